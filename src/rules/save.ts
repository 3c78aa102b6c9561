import { mkdir, open, readFile, realpath } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import writeFileAtomic from 'write-file-atomic'
import {
  type Document,
  isCollection,
  isMap,
  isNode,
  isScalar,
  isSeq,
  type Node,
  visit,
  type YAMLMap,
  type YAMLSeq,
} from 'yaml'
import { ImgsyncError } from '../errors.js'
import { withFileLock } from '../file-lock.js'
import { hostError } from './checks.js'
import { parseRuleFile, parseYamlDocument } from './load.js'
import { renderRuleDocument } from './render.js'
import { REGISTRY_NAME_PATTERN, type RuleInput } from './schema.js'

// Edits of the rule file's YAML Document. They change only what they must, so the user's comments,
// key order and `${VAR}` text survive; validation happens once, on the result (editRuleFile).

/** The file `editRuleFile` starts from when there is none yet. */
export const NEW_RULE_FILE =
  '# imgsync rule file: registries, and the rules that sync between them.\nversion: 1\nregistries: {}\nrules: []\n'

const RULE_KEYS = [
  'name',
  'description',
  'enabled',
  'source',
  'target',
  'override',
  'referrers',
  'platforms',
  'prune',
  'trigger',
] as const
const SOURCE_KEYS = ['registry', 'namespace', 'repositories', 'tags', 'types'] as const
const TARGET_KEYS = ['registry', 'namespace'] as const
// Short values read best inline, as in the documented example: `target: { registry: bj }`.
const FLOW_KEYS = new Set(['target', 'trigger', 'types', 'platforms', 'tags'])

type Nullable<T> = { [K in keyof T]?: T[K] | null }

/**
 * Changes to a rule. `undefined` leaves a key alone, `null` removes it (back to its default).
 * `source` and `target` merge key by key; every other value replaces the old one whole.
 */
export type RulePatch = Omit<Nullable<RuleInput>, 'name' | 'source' | 'target'> & {
  /** renames the rule */
  name?: string
  source?: Nullable<RuleInput['source']>
  target?: Nullable<RuleInput['target']>
}

/** Appends a rule. RULE_EXISTS if the name is taken. */
export function addRule(doc: Document, rule: RuleInput): void {
  const rules = rulesSeq(doc, true)!
  if (findRule(rules, rule.name) >= 0) {
    throw new ImgsyncError('RULE_EXISTS', `rule ${JSON.stringify(rule.name)} already exists`, {
      suggestions: [`change it with \`imgsync rule update ${rule.name}\`, or pick another name`],
    })
  }
  const node = createStyled(doc, 'rule', ordered(rule as Record<string, unknown>, RULE_KEYS))
  // Follow the file's habit of a blank line between rules.
  node.spaceBefore = rules.items.slice(1).some((item) => isNode(item) && item.spaceBefore)
  // `rules: []` of a new file becomes a block list; a list the user wrote inline stays inline.
  if (rules.items.length === 0) rules.flow = false
  rules.items.push(node)
}

/** Applies a patch to an existing rule. RULE_NOT_FOUND, or RULE_EXISTS when renaming onto another rule. */
export function updateRule(doc: Document, name: string, patch: RulePatch): void {
  const rule = ruleMap(doc, name)
  const rename = patch.name
  if (rename !== undefined && rename !== name && findRule(rulesSeq(doc, false)!, rename) >= 0) {
    throw new ImgsyncError(
      'RULE_EXISTS',
      `cannot rename rule ${JSON.stringify(name)}: rule ${JSON.stringify(rename)} already exists`,
    )
  }
  for (const key of RULE_KEYS) {
    const value = patch[key]
    if (value === undefined) continue
    if ((key === 'source' || key === 'target') && value !== null) {
      const current = rule.get(key, true)
      if (isMap(current)) {
        const keys = key === 'source' ? SOURCE_KEYS : TARGET_KEYS
        for (const sub of keys) {
          const subValue = (value as Record<string, unknown>)[sub]
          if (subValue !== undefined) setKey(doc, current, sub, subValue, keys)
        }
        continue
      }
    }
    setKey(doc, rule, key, value, RULE_KEYS)
  }
}

/** Sets `enabled`; enabling a rule without the key changes nothing (true is the default). */
export function setRuleEnabled(doc: Document, name: string, enabled: boolean): void {
  const rule = ruleMap(doc, name)
  if (enabled && !rule.has('enabled')) return
  setKey(doc, rule, 'enabled', enabled, RULE_KEYS)
}

/** Removes a rule, with the comment lines right above it. */
export function deleteRule(doc: Document, name: string): void {
  const rules = rulesSeq(doc, false)
  const index = rules ? findRule(rules, name) : -1
  if (!rules || index < 0) throw notFound(doc, name)
  rules.items.splice(index, 1)
}

/**
 * The registry name to put in a rule for `nameOrHost`: an entry's name as is; a host[:port] (or
 * `oci:PATH`) that an entry already points at gives that entry; any other host is added as a new
 * entry named after it (`swr.example.com`, `127-0-0-1-5000`, `localhost-5000`).
 */
export function ensureRegistry(doc: Document, nameOrHost: string): string {
  const registries = registriesMap(doc)
  const entries = registries.items.map((pair) => ({
    name: String(isScalar(pair.key) ? pair.key.value : pair.key),
    value: isMap(pair.value) ? (pair.value.toJSON() as Record<string, unknown>) : undefined,
  }))
  if (entries.some((e) => e.name === nameOrHost)) return nameOrHost

  let entry: Record<string, unknown>
  let wanted: string
  if (nameOrHost.startsWith('oci:')) {
    const path = nameOrHost.slice(4)
    if (path === '') throw new ImgsyncError('INVALID_ARGUMENT', 'oci: needs a directory, e.g. oci:./layout')
    const same = entries.find(
      (e) => (e.value?.['oci-layout'] as { path?: unknown } | undefined)?.path === path,
    )
    if (same) return same.name
    entry = { 'oci-layout': { path } }
    wanted = `oci-${
      basename(path)
        .toLowerCase()
        .replace(/[^a-z0-9._-]+/g, '-')
        .replace(/^[^a-z0-9]+/, '') || 'layout'
    }`
  } else {
    // A bare word (no dot, port or brackets) is a registry name, as docker reads `app/x` as a path.
    const looksLikeName = !/[.:[]/.test(nameOrHost) && nameOrHost.toLowerCase() !== 'localhost'
    const problem = looksLikeName ? 'not a name under registries' : hostError(nameOrHost)
    if (problem) {
      const known = entries.map((e) => e.name)
      throw new ImgsyncError(
        'INVALID_ARGUMENT',
        looksLikeName
          ? `unknown registry ${JSON.stringify(nameOrHost)}: ${known.length ? `name one of ${known.join(', ')}` : 'no registries are defined'}, or give a host[:port]`
          : `invalid registry ${JSON.stringify(nameOrHost)}: ${problem}`,
      )
    }
    const host = nameOrHost.toLowerCase()
    const same = entries.find((e) => typeof e.value?.host === 'string' && e.value.host.toLowerCase() === host)
    if (same) return same.name
    entry = { host: nameOrHost }
    wanted = registryNameFor(host)
  }
  let name = wanted
  for (let i = 2; entries.some((e) => e.name === name); i++) name = `${wanted}-${i}`
  const node = doc.createNode(entry, { flow: true })
  if (registries.items.length === 0) registries.flow = false
  registries.add(doc.createPair(name, node))
  return name
}

/** The entry name for a new host: the host itself, unless it has a port or is an IP (then dashes). */
export function registryNameFor(host: string): string {
  const lower = host.toLowerCase()
  const isIp = /^\d+(\.\d+){3}(:\d+)?$/.test(lower) || lower.startsWith('[')
  if (!isIp && !lower.includes(':') && REGISTRY_NAME_PATTERN.test(lower)) return lower
  return lower.replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') || 'registry'
}

export interface EditOptions {
  /** environment for `${VAR}` checks (default none); unset variables are tolerated (the edit keeps the text) */
  env?: Readonly<Record<string, string | undefined>>
  /** how long to wait for another process's edit before failing with LOCKED (default 10 s) */
  lockTimeoutMs?: number
}

export interface EditResult<T> {
  file: string
  /** the document as written */
  doc: Document
  text: string
  /** false when the edit changed nothing, so the file was not rewritten */
  changed: boolean
  /** what fn returned, e.g. a registry name from ensureRegistry */
  value: T
}

/**
 * Read-modify-write of the rule file under an exclusive lock: re-read inside the lock, apply fn,
 * validate the result (an invalid file is never written), write atomically (temp file in the same
 * directory, fsync, rename; mode kept), unlock. Creates the file when missing.
 */
export async function editRuleFile<T = void>(
  path: string,
  fn: (doc: Document) => T | Promise<T>,
  options: EditOptions = {},
): Promise<EditResult<T>> {
  const env = options.env ?? {}
  // Follow a symlink (dotfiles, mounted config) so the link survives the rename.
  const target = await realpath(path).catch(() => path)
  await mkdir(dirname(target), { recursive: true })
  return withFileLock(
    target,
    async (held) => {
      const existing = await readFile(target, 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined
        throw new ImgsyncError('CONFIG_INVALID', `cannot read rule file ${path}: ${err.message}`, {
          cause: err,
        })
      })
      const original = existing ?? NEW_RULE_FILE
      // Only the YAML must be sound here: a rule file that fails validation can still be fixed by an edit.
      const { doc } = parseYamlDocument(original, path)
      const value = await fn(doc)
      const text = renderRuleDocument(doc, original)
      parseRuleFile(text, path, env, {
        allowUnsetEnv: true,
        messagePrefix: 'not saved, the edit would leave the rule file invalid: ',
      })
      const changed = existing === undefined || text !== existing
      if (changed) {
        held.assertHeld()
        await writeFileAtomic(target, text, { fsync: true })
        await syncDirectory(dirname(target))
      }
      return { file: path, doc, text, changed, value }
    },
    { timeoutMs: options.lockTimeoutMs },
  )
}

/** Makes the rename itself durable; best effort where directories cannot be opened. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  } catch {
    // Not supported on every platform or file system; the data itself was fsynced.
  }
}

function rootMap(doc: Document): YAMLMap {
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    doc.contents = doc.createNode({ version: 1 }) as never
  }
  if (!isMap(doc.contents))
    throw new ImgsyncError(
      'CONFIG_INVALID',
      'the rule file is not a mapping of version, registries and rules',
      {
        suggestions: [
          'start it with "version: 1", then "registries:" and "rules:" (imgsync rule list -c FILE shows every problem)',
        ],
      },
    )
  return doc.contents
}

function rulesSeq(doc: Document, create: boolean): YAMLSeq | undefined {
  const root = rootMap(doc)
  const rules = root.get('rules', true)
  if (isSeq(rules)) return rules
  if (rules === undefined || (isScalar(rules) && rules.value === null)) {
    if (!create) return undefined
    const seq = doc.createNode([]) as YAMLSeq
    root.set('rules', seq)
    return seq
  }
  throw new ImgsyncError('CONFIG_INVALID', 'rules in the rule file is not a list', {
    suggestions: [
      'write each rule as a list item: "rules:" then "  - name: ..." (imgsync rule list -c FILE shows every problem)',
    ],
  })
}

function registriesMap(doc: Document): YAMLMap {
  const root = rootMap(doc)
  const registries = root.get('registries', true)
  if (isMap(registries)) return registries
  if (registries !== undefined && !(isScalar(registries) && registries.value === null)) {
    throw new ImgsyncError('CONFIG_INVALID', 'registries in the rule file is not a mapping', {
      suggestions: [
        'write each registry as NAME: { host: HOST[:PORT] } under "registries:" (imgsync rule list -c FILE shows every problem)',
      ],
    })
  }
  const map = doc.createNode({}) as YAMLMap
  if (registries !== undefined) root.set('registries', map)
  else {
    // Registries read best before the rules that use them: right after version.
    const at = root.items.findIndex((pair) => isScalar(pair.key) && pair.key.value === 'version')
    root.items.splice(at + 1, 0, doc.createPair('registries', map))
  }
  return map
}

function findRule(rules: YAMLSeq, name: string): number {
  return rules.items.findIndex((item) => isMap(item) && item.get('name') === name)
}

function ruleMap(doc: Document, name: string): YAMLMap {
  const rules = rulesSeq(doc, false)
  const index = rules ? findRule(rules, name) : -1
  if (!rules || index < 0) throw notFound(doc, name)
  return rules.items[index] as YAMLMap
}

function notFound(doc: Document, name: string): ImgsyncError {
  const rules = isMap(doc.contents) ? doc.contents.get('rules', true) : undefined
  const names = isSeq(rules)
    ? rules.items.flatMap((item) => (isMap(item) ? [String(item.get('name'))] : []))
    : []
  return new ImgsyncError('RULE_NOT_FOUND', `no rule named ${JSON.stringify(name)}`, {
    suggestions: [
      names.length ? `rules in this file: ${names.join(', ')}` : 'the rule file has no rules yet',
    ],
  })
}

/**
 * Sets map[key] while keeping what the user wrote around it: a scalar keeps its comment and quoting,
 * a replaced collection keeps its flow/block style and trailing comment, a new key goes where the
 * canonical key order puts it rather than at the end. null removes the key.
 */
function setKey(doc: Document, map: YAMLMap, key: string, value: unknown, order: readonly string[]): void {
  if (value === null) {
    map.delete(key)
    return
  }
  const current = map.get(key, true) as Node | undefined
  if (isScalar(current) && (typeof value !== 'object' || value === null)) {
    if (typeof current.value !== typeof value) current.type = undefined
    current.value = value
    return
  }
  const node = createStyled(doc, key, value)
  if (current !== undefined) {
    if (isCollection(current) && isCollection(node)) node.flow = current.flow
    node.comment = current.comment
    map.set(key, node)
    return
  }
  const rank = order.indexOf(key)
  let at = map.items.length
  if (rank >= 0) {
    const after = map.items.findIndex(
      (pair) => order.indexOf(String(isScalar(pair.key) ? pair.key.value : pair.key)) > rank,
    )
    if (after >= 0) at = after
  }
  map.items.splice(at, 0, doc.createPair(key, node))
}

/** A node for a new value, in canonical key order, with short collections inline. */
function createStyled(doc: Document, key: string, value: unknown): Node {
  const node = doc.createNode(
    key === 'source' ? ordered(value as Record<string, unknown>, SOURCE_KEYS) : value,
  ) as Node
  const style = (n: unknown, k: string) => {
    if (isCollection(n)) n.flow = FLOW_KEYS.has(k) && isShort(n.toJSON())
  }
  style(node, key)
  // Cron fields read like globs; quoted, as in the documentation.
  visit(node, {
    Pair(_, pair) {
      if (isScalar(pair.key) && pair.key.value === 'cron' && isScalar(pair.value))
        pair.value.type = 'QUOTE_DOUBLE'
    },
  })
  if (isMap(node)) {
    for (const pair of node.items) {
      const k = String(isScalar(pair.key) ? pair.key.value : pair.key)
      if (k === 'source' && isMap(pair.value)) {
        pair.value = doc.createNode(
          ordered(pair.value.toJSON() as Record<string, unknown>, SOURCE_KEYS),
        ) as never
        for (const sub of (pair.value as YAMLMap).items)
          style(sub.value, String(isScalar(sub.key) ? sub.key.value : sub.key))
      } else style(pair.value, k)
    }
  }
  return node
}

function isShort(value: unknown): boolean {
  return JSON.stringify(value).length <= 60
}

/** value's keys in `order` first, then any others; undefined values dropped. */
function ordered(value: Record<string, unknown>, order: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const key of [...order, ...Object.keys(value)]) {
    if (value[key] !== undefined && !(key in out)) out[key] = value[key]
  }
  return out
}
