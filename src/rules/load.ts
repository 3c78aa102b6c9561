import { readFile } from 'node:fs/promises'
import { dirname, isAbsolute, resolve } from 'node:path'
import { type Document, LineCounter, parseDocument, visit } from 'yaml'
import { ImgsyncError } from '../errors.js'
import { DEFAULT_CONFIG_PATH } from './default-path.js'
import { interpolate, type Path } from './interpolate.js'
import {
  configError,
  interpolationProblems,
  type Problem,
  schemaProblems,
  syntaxProblem,
} from './problems.js'
import { PARSE_OPTIONS } from './render.js'
import { type RuleFile, RuleFileSchema } from './schema.js'

export interface LoadedRuleFile {
  /** the path as given: messages name the file the way the user wrote it */
  file: string
  /** the raw document (no interpolation), for edits that keep comments and `${VAR}` text */
  doc: Document
  /** validated, defaults applied, `${VAR}` interpolated */
  config: RuleFile
  /** registries whose password is written in the file itself (not `${VAR}`) */
  literalPasswords: string[]
}

export interface ParseOptions {
  /**
   * Tolerate unset `${VAR}`: they stay as literal text and checks on those fields are skipped. Edits
   * use this, so `imgsync rule create` works without the registry secrets in the environment.
   */
  allowUnsetEnv?: boolean
  /** put before the message, e.g. "not saved: " */
  messagePrefix?: string
}

/** Paths in the rule file (tls.ca, oci-layout.path) are relative to the rule file's directory. */
export function resolveRuleFilePath(ruleFile: string, path: string): string {
  return isAbsolute(path) ? path : resolve(dirname(ruleFile), path)
}

export type Env = Readonly<Record<string, string | undefined>>

/** Reads and validates the rule file; `env` answers its `${VAR}` references. */
export async function loadRuleFile(
  path: string,
  env: Env,
  options: ParseOptions = {},
): Promise<LoadedRuleFile> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw readError(path, err)
  }
  return parseRuleFile(text, path, env, options)
}

/** Parses and validates rule file text (pure: no file access). Throws CONFIG_INVALID. */
export function parseRuleFile(
  text: string,
  file: string,
  env: Env,
  options: ParseOptions = {},
): LoadedRuleFile {
  const { doc, lineCounter } = parseYamlDocument(text, file, options.messagePrefix)
  // Merge keys (<<: *defaults) are handy when many rules share settings; toJS applies them.
  const raw = toPlainData(doc, file, lineCounter, options.messagePrefix)
  const interpolated = interpolate(raw, env)
  // A field with a bad or unset variable fails once, for the variable, not again for its placeholder text.
  const unresolved = interpolated.problems.map((p) => p.path)
  const problems: Problem[] = interpolationProblems(
    options.allowUnsetEnv ? interpolated.problems.filter((p) => !p.variable) : interpolated.problems,
  )
  const result = RuleFileSchema.safeParse(interpolated.value)
  if (!result.success) {
    const fromSchema = schemaProblems(result.error.issues, raw, RuleFileSchema)
    problems.push(...fromSchema.filter((p) => !unresolved.some((u) => startsWith(p.path, u))))
  }
  if (problems.length > 0) throw configError(file, problems, doc, lineCounter, raw, options.messagePrefix)
  if (!result.success) {
    // Only fields holding unset variables failed (allowUnsetEnv): the structure is sound, but there is
    // no fully typed config to hand out. Edits only need the verdict; give the raw shape.
    return { file, doc, config: interpolated.value as RuleFile, literalPasswords: literalPasswords(raw) }
  }
  return { file, doc, config: result.data, literalPasswords: literalPasswords(raw) }
}

/** Registries (by name) whose credentials.password is literal text in the file, not a `${VAR}`. */
function literalPasswords(raw: unknown): string[] {
  const registries = (raw as { registries?: unknown } | null)?.registries
  if (!registries || typeof registries !== 'object') return []
  return Object.entries(registries as Record<string, { credentials?: { password?: unknown } } | null>)
    .filter(([, e]) => {
      const pw = e?.credentials?.password
      return pw !== undefined && pw !== null && pw !== '' && !String(pw).includes('${')
    })
    .map(([name]) => name)
}

/** The document as plain data; a failure here (too many aliases) is a mistake in the file, not a bug. */
function toPlainData(doc: Document, file: string, lineCounter: LineCounter, prefix?: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: 1000 })
  } catch (err) {
    const message = `YAML error: ${(err as Error).message.replace(/^\w/, (c) => c.toLowerCase())}`
    throw configError(file, [{ path: [], offset: 0, message }], doc, lineCounter, undefined, prefix)
  }
}

/** An alias whose anchor is missing (`*name` with no `&name` before it): its offset, else undefined. */
function unresolvedAlias(doc: Document): { offset: number; name: string } | undefined {
  let found: { offset: number; name: string } | undefined
  visit(doc, {
    Alias(_, node) {
      if (node.resolve(doc) !== undefined) return undefined
      found = { offset: node.range?.[0] ?? 0, name: node.source }
      return visit.BREAK
    },
  })
  return found
}

/** The YAML document alone (no schema), with syntax errors as CONFIG_INVALID. */
export function parseYamlDocument(
  text: string,
  file: string,
  messagePrefix = '',
): { doc: Document; lineCounter: LineCounter } {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { ...PARSE_OPTIONS, lineCounter })
  if (doc.errors.length > 0) {
    throw configError(
      file,
      doc.errors.map((err) => syntaxProblem(err, doc)),
      doc,
      lineCounter,
      undefined,
      messagePrefix,
    )
  }
  const alias = unresolvedAlias(doc)
  if (alias) {
    const message = `YAML error: alias *${alias.name} refers to no anchor`
    const detail = `define &${alias.name} before it is used, or write the value out`
    throw configError(
      file,
      [{ path: [], offset: alias.offset, message, detail }],
      doc,
      lineCounter,
      undefined,
      messagePrefix,
    )
  }
  return { doc, lineCounter }
}

function readError(path: string, err: unknown): ImgsyncError {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ENOENT') {
    const isDefault = path === DEFAULT_CONFIG_PATH || path === `./${DEFAULT_CONFIG_PATH}`
    return new ImgsyncError(
      'CONFIG_INVALID',
      isDefault
        ? `no rule file at ./${DEFAULT_CONFIG_PATH}; create one with \`imgsync rule create\` or pass --config`
        : `no rule file at ${path}; check --config or IMGSYNC_CONFIG`,
      { cause: err, suggestions: ['imgsync rule create NAME --source-registry ... creates the file'] },
    )
  }
  if (code === 'EISDIR') {
    return new ImgsyncError('CONFIG_INVALID', `${path} is a directory; --config takes the rule file itself`, {
      cause: err,
    })
  }
  const reason = err instanceof Error ? err.message : String(err)
  return new ImgsyncError('CONFIG_INVALID', `cannot read rule file ${path}: ${reason}`, { cause: err })
}

function startsWith(path: Path, prefix: Path): boolean {
  return prefix.length <= path.length && prefix.every((seg, i) => path[i] === seg)
}
