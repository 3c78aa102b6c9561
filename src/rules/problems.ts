import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  type LineCounter,
  type Node,
  type YAMLError,
} from 'yaml'
import type * as z from 'zod'
import { ImgsyncError } from '../errors.js'
import { editDistance } from '../text.js'
import type { InterpolationProblem, Path } from './interpolate.js'

// Turns YAML, interpolation and schema problems into one-line messages that point at the file:
// `imgsync.yaml:12:7: rules[0].source.tags.include: invalid regular expression "(" (rule "x"): Unterminated group`.

export interface Problem {
  path: Path
  message: string
  detail?: string
  /** point at the key of the last path element rather than its value (unknown or badly named keys) */
  atKey?: boolean
  /** the problem is about the rule's name itself: do not repeat it as (rule "...") */
  noRule?: boolean
  /** already located (YAML syntax errors) */
  offset?: number
  /** keys an unknown key may have meant */
  suggests?: string[]
  /** a required key that is absent */
  missing?: boolean
  /** an environment variable `${NAME}` that is not set: the environment's fault, not the file's */
  variable?: string
}

type Issue = z.core.$ZodIssue
type SchemaLike = z.core.$ZodType

// Values under these keys are never echoed: they hold secrets (DESIGN.md §7).
const SECRET_KEYS = new Set(['credentials', 'password', 'username', 'webhookToken', 'token'])

/** `rules[0].source.tags.include`; keys that are not identifiers are quoted: `registries["a.b"]`. */
export function formatPath(path: Path): string {
  if (path.length === 0) return '(root)'
  let out = ''
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`
    else out += `[${JSON.stringify(seg)}]`
  }
  return out
}

/** Schema issues as problems, with unions resolved to the branch the user evidently meant. */
export function schemaProblems(issues: readonly Issue[], raw: unknown, schema: SchemaLike): Problem[] {
  const problems = issues.flatMap((issue) => fromIssue(issue, [], raw, schema))
  // `sourse:` makes `source` missing too; the misspelling is the one thing to report.
  const meant = new Set(
    problems.flatMap((p) => (p.suggests ?? []).map((key) => JSON.stringify([...p.path.slice(0, -1), key]))),
  )
  return problems.filter((p) => !(p.missing && meant.has(JSON.stringify(p.path))))
}

function fromIssue(issue: Issue, prefix: Path, raw: unknown, schema: SchemaLike): Problem[] {
  const path: Path = [...prefix, ...(issue.path as Path)]
  const got = valueAt(raw, path)
  switch (issue.code) {
    case 'invalid_union': {
      // A branch whose only complaint is the type of the value itself is a branch the user did not mean.
      const meant = issue.errors.filter(
        (b) => !(b.length > 0 && b.every((i) => i.code === 'invalid_type' && i.path.length === 0)),
      )
      if (meant.length > 0) return meant[0]!.flatMap((i) => fromIssue(i, path, raw, schema))
      const expected = issue.errors.flatMap((b) =>
        b.map((i) => (i.code === 'invalid_type' ? expectedName(i.expected) : '')),
      )
      return [{ path, message: typeMessage(unique(expected.filter(Boolean)).join(' or '), got, path) }]
    }
    case 'invalid_type':
      return [typeProblem(issue, path, got)]
    case 'unrecognized_keys':
      return issue.keys.map((key) => unknownKeyProblem(key, path, schema))
    case 'invalid_value':
      if (!isDefault(issue.message)) return [{ path, message: issue.message }]
      return [
        {
          path,
          message: `expected one of ${issue.values.map(String).join(', ')}; got ${describe(got, path)}`,
        },
      ]
    case 'custom': {
      const params = (issue.params ?? {}) as { detail?: string; at?: string; noRule?: boolean }
      return [
        {
          path,
          message: issue.message,
          detail: params.detail,
          atKey: params.at === 'key',
          noRule: params.noRule,
        },
      ]
    }
    default:
      return [
        {
          path,
          message: isDefault(issue.message)
            ? issue.message.replace(/^\w/, (c) => c.toLowerCase())
            : issue.message,
        },
      ]
  }
}

/** A value of the wrong type, or a required key that is missing. */
function typeProblem(issue: Extract<Issue, { code: 'invalid_type' }>, path: Path, got: unknown): Problem {
  if (got === undefined) {
    return {
      path,
      missing: true,
      message: isDefault(issue.message) ? 'required key is missing' : issue.message,
    }
  }
  if (!isDefault(issue.message)) return { path, message: issue.message }
  if (path.length === 0) {
    return {
      path,
      message:
        got === null
          ? 'the file is empty; start it with "version: 1"'
          : typeMessage('a mapping with version, registries and rules', got, path),
    }
  }
  return { path, message: typeMessage(expectedName(issue.expected), got, path) }
}

/** An unknown key, with the keys it may have meant (typos, longer or shorter spellings). */
function unknownKeyProblem(key: string, path: Path, schema: SchemaLike): Problem {
  const allowed = allowedKeysAt(schema, path)
  const lower = key.toLowerCase()
  const near = allowed.filter((k) => {
    const candidate = k.toLowerCase()
    // typos (sourse), and longer or shorter spellings of the same word (hostname, tag)
    return editDistance(candidate, lower) <= 2 || lower.startsWith(candidate) || candidate.startsWith(lower)
  })
  return {
    path: [...path, key],
    atKey: true,
    message: `unknown key ${JSON.stringify(key)}`,
    suggests: near,
    detail: near.length
      ? `did you mean ${near.map((k) => JSON.stringify(k)).join(' or ')}?`
      : allowed.length
        ? `allowed here: ${allowed.join(', ')}`
        : undefined,
  }
}

export function interpolationProblems(problems: InterpolationProblem[]): Problem[] {
  return problems.map((p) => ({ path: p.path, message: p.message, variable: p.variable }))
}

/** What to do: fix the file, or (for variables that are not set) the environment imgsync runs in. */
function whatToDo(file: string, problems: Problem[]): string[] {
  const unset = unique(problems.flatMap((p) => (p.variable ? [p.variable] : [])))
  if (unset.length === 0) return [`fix ${file} and run the command again`]
  const set = `set ${unset.join(', ')} in the environment imgsync runs in (export ${unset[0]}=…)`
  return unset.length === problems.length
    ? [`${set}; ${file} itself is fine`]
    : [set, `fix ${file} and run the command again`]
}

/** A YAML syntax error, named by the deepest field around it when there is one. */
export function syntaxProblem(err: YAMLError, doc: Document): Problem {
  const around = pathAround(doc, err.pos[0])
  // An unclosed quote is reported where the file ends; the user needs the line where it opens.
  const offset =
    err.code === 'MISSING_CHAR' && around?.valueStart !== undefined ? around.valueStart : err.pos[0]
  return {
    path: around?.path ?? [],
    offset,
    message: `YAML syntax error: ${err.message.replace(/^\w/, (c) => c.toLowerCase()).replace(/\s*\n[\s\S]*$/, '')}`,
  }
}

/** Builds the CONFIG_INVALID error: the first problem (by position) is the message, the rest follow as suggestions. */
export function configError(
  file: string,
  problems: Problem[],
  doc: Document,
  lineCounter: LineCounter,
  raw: unknown,
  prefix = '',
): ImgsyncError {
  const located = problems
    .map((p) => {
      const offset = p.offset ?? locate(doc, p.path, p.atKey ?? false)
      const { line, col } = lineCounter.linePos(offset)
      const field = p.path.length === 0 && p.offset !== undefined ? '' : `${formatPath(p.path)}: `
      const aboutName = p.path.length === 3 && p.path[0] === 'rules' && p.path[2] === 'name'
      const rule = p.noRule || aboutName ? '' : ruleSuffix(raw, p.path)
      const detail = p.detail ? `: ${p.detail}` : ''
      // On one line, a misspelt key comes before what it causes (a missing key, a failed cross-check).
      const rank = p.atKey ? 0 : 1
      return {
        offset,
        line,
        rank,
        text: oneLine(`${file}:${line}:${col}: ${field}${p.message}${rule}${detail}`),
      }
    })
    .sort((a, b) => a.line - b.line || a.rank - b.rank || a.offset - b.offset)
  const lines = unique(located.map((l) => l.text))
  const more = lines.length > 1 ? ` (and ${lines.length - 1} more problem${lines.length > 2 ? 's' : ''})` : ''
  return new ImgsyncError('CONFIG_INVALID', `${prefix}${lines[0]}${more}`, {
    suggestions: [...lines.slice(1, 11), ...whatToDo(file, problems)],
  })
}

/** Offset of the node at path, or of the nearest parent that exists. */
export function locate(doc: Document, path: Path, atKey: boolean): number {
  let node: unknown = doc.contents
  let best = rangeStart(node) ?? 0
  let parentKey: number | undefined
  for (let i = 0; i < path.length; i++) {
    if (isAlias(node)) node = node.resolve(doc)
    const seg = path[i]
    if (isMap(node)) {
      const pair = node.items.find((p) => keyText(p.key) === String(seg))
      // A key missing from a block mapping: point at the `source:` line that should hold it.
      if (!pair) return i === path.length - 1 && parentKey !== undefined && !node.flow ? parentKey : best
      parentKey = rangeStart(pair.key)
      const keyStart = rangeStart(pair.key)
      if (atKey && i === path.length - 1 && keyStart !== undefined) return keyStart
      node = pair.value
      // `key:` with nothing after it has no useful value range; the key is where the user looks.
      const valueStart = isScalar(node) && node.value === null ? undefined : rangeStart(node)
      best = valueStart ?? keyStart ?? best
      if (valueStart === undefined) break
    } else if (isSeq(node) && typeof seg === 'number') {
      parentKey = undefined
      node = node.items[seg]
      const start = rangeStart(node)
      if (start === undefined) break
      best = start
    } else break
  }
  return best
}

/** The last field that starts before offset, and where its value starts. */
function pathAround(doc: Document, offset: number): { path: Path; valueStart?: number } | undefined {
  let found: { path: Path; valueStart?: number } | undefined
  const visit = (node: unknown, path: Path) => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const start = rangeStart(pair.key)
        if (start === undefined || start > offset) continue
        const here: Path = [...path, keyText(pair.key)]
        found = { path: here, valueStart: rangeStart(pair.value) }
        visit(pair.value, here)
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        const start = rangeStart(item)
        if (start === undefined || start > offset) return
        const here: Path = [...path, i]
        found = { path: here, valueStart: start }
        visit(item, here)
      })
    }
  }
  visit(doc.contents, [])
  return found
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as Node | null | undefined)?.range
  return range ? range[0] : undefined
}

function keyText(key: unknown): string {
  return isScalar(key) ? String(key.value) : String(key)
}

function ruleSuffix(raw: unknown, path: Path): string {
  if (path[0] !== 'rules' || typeof path[1] !== 'number') return ''
  const name = valueAt(raw, ['rules', path[1], 'name'])
  return typeof name === 'string' && name !== '' ? ` (rule ${JSON.stringify(name)})` : ''
}

function valueAt(value: unknown, path: Path): unknown {
  let v = value
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined
    v = (v as Record<string | number, unknown>)[seg]
  }
  return v
}

function typeMessage(expected: string, got: unknown, path: Path): string {
  return `expected ${expected}, got ${describe(got, path)}`
}

function expectedName(expected: string): string {
  const names: Record<string, string> = {
    string: 'a string',
    boolean: 'true or false',
    number: 'a number',
    int: 'a whole number',
    object: 'a mapping',
    record: 'a mapping',
    array: 'a list',
  }
  return names[expected] ?? expected
}

function describe(value: unknown, path: Path): string {
  if (value === undefined) return 'nothing'
  if (value === null) return 'an empty value'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  const secret = path.some((seg) => typeof seg === 'string' && SECRET_KEYS.has(seg))
  const kind =
    typeof value === 'string' ? 'a string' : typeof value === 'number' ? 'a number' : `a ${typeof value}`
  if (secret) return kind
  const shown = JSON.stringify(value)
  return `${kind} ${shown.length > 60 ? `${shown.slice(0, 57)}...` : shown}`
}

// zod's own messages start with these words; ours never do, so a custom message wins over the generic text.
function isDefault(message: string): boolean {
  return /^(Invalid|Too (small|big)|Unrecognized)/.test(message)
}

/** Keys the schema allows at path (for "did you mean"), walking through optional/default/pipe/union. */
function allowedKeysAt(schema: SchemaLike, path: Path): string[] {
  let current: SchemaLike[] = [schema]
  for (const seg of path) {
    current = current.flatMap((s) => unwrap(s)).flatMap((s) => child(s, seg))
  }
  const keys = current
    .flatMap((s) => unwrap(s))
    .flatMap((s) => {
      const def = s._zod.def as { type: string; shape?: Record<string, unknown> }
      return def.type === 'object' && def.shape ? Object.keys(def.shape) : []
    })
  return unique(keys)
}

function unwrap(schema: SchemaLike): SchemaLike[] {
  const def = schema._zod.def as {
    type: string
    innerType?: SchemaLike
    in?: SchemaLike
    options?: SchemaLike[]
  }
  if (def.innerType) return unwrap(def.innerType)
  if (def.type === 'pipe' && def.in) return unwrap(def.in)
  if (def.type === 'union' && def.options) return def.options.flatMap(unwrap)
  return [schema]
}

function child(schema: SchemaLike, seg: string | number): SchemaLike[] {
  const def = schema._zod.def as {
    type: string
    shape?: Record<string, SchemaLike>
    element?: SchemaLike
    valueType?: SchemaLike
  }
  if (def.type === 'object' && def.shape && typeof seg === 'string' && def.shape[seg]) return [def.shape[seg]]
  if (def.type === 'array' && def.element && typeof seg === 'number') return [def.element]
  if (def.type === 'record' && def.valueType) return [def.valueType]
  return []
}

function unique<T>(items: T[]): T[] {
  return [...new Set(items)]
}

function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ')
}
