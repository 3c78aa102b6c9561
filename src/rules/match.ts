import semver from 'semver'
import { ImgsyncError } from '../errors.js'
import type { Rule, TagFilter } from './schema.js'

// Pure selection: rules × repository and tag lists → what to copy. No I/O, no clock.
// Regexes are unanchored (RegExp.test), like grep: write ^...$ to match a whole name.

type RuleSource = Pick<Rule['source'], 'namespace' | 'repositories'>
type RuleLike = { source: RuleSource; target: { namespace?: string } }

/**
 * The path of repo below namespace (`team-a` + `team-a/sub/app` → `sub/app`), or undefined when repo
 * is not under it. Namespace "" is the registry root, so every repo is under it.
 */
export function relativePath(namespace: string, repo: string): string | undefined {
  const ns = trimSlashes(namespace)
  if (ns === '') return repo
  return repo.startsWith(`${ns}/`) && repo.length > ns.length + 1 ? repo.slice(ns.length + 1) : undefined
}

/** Full repository paths under the rule's source namespace whose remainder passes `repositories`. Keeps input order, drops duplicates. */
export function selectRepositories(rule: { source: RuleSource }, repositoryPaths: string[]): string[] {
  const { namespace, repositories } = rule.source
  const accept = repositoryMatcher(repositories)
  const out: string[] = []
  const seen = new Set<string>()
  for (const repo of repositoryPaths) {
    if (seen.has(repo)) continue
    seen.add(repo)
    const rel = relativePath(namespace ?? '', repo)
    if (rel !== undefined && accept(rel)) out.push(repo)
  }
  return out
}

function repositoryMatcher(filter: string | string[] | undefined): (rel: string) => boolean {
  if (filter === undefined) return () => true
  if (Array.isArray(filter)) {
    const names = new Set(filter)
    return (rel) => names.has(rel)
  }
  const re = new RegExp(filter)
  return (rel) => re.test(rel)
}

/** Where sourceRepo goes: the source namespace prefix swapped for the target's (default: the same). */
export function targetRepository(rule: RuleLike, sourceRepo: string): string {
  const sourceNs = rule.source.namespace ?? ''
  const rel = relativePath(sourceNs, sourceRepo)
  if (rel === undefined) {
    throw new ImgsyncError(
      'INVALID_ARGUMENT',
      `repository ${sourceRepo} is not under source namespace ${sourceNs}`,
    )
  }
  const targetNs = trimSlashes(rule.target.namespace ?? sourceNs)
  return targetNs === '' ? rel : `${targetNs}/${rel}`
}

export type TagExclusionReason = 'include' | 'exclude' | 'semver' | 'latest'

export interface TagSelection {
  /** in input order */
  selected: string[]
  /** in input order; reason = the first filter that dropped the tag */
  excluded: { tag: string; reason: TagExclusionReason }[]
}

/**
 * Applies a tag filter in the order include → exclude → semver → latest, so `latest: 5` counts only
 * tags that passed the other filters. Duplicate tags are considered once.
 */
export function selectTags(filter: TagFilter | undefined, tags: string[]): TagSelection {
  const unique = [...new Set(tags)]
  const excluded: TagSelection['excluded'] = []
  const include = filter?.include === undefined ? undefined : new RegExp(filter.include)
  const exclude = filter?.exclude === undefined ? undefined : new RegExp(filter.exclude)
  let kept: string[] = []
  for (const tag of unique) {
    if (include && !include.test(tag)) excluded.push({ tag, reason: 'include' })
    else if (exclude?.test(tag)) excluded.push({ tag, reason: 'exclude' })
    else if (filter?.semver !== undefined && !satisfiesRange(tag, filter.semver))
      excluded.push({ tag, reason: 'semver' })
    else kept.push(tag)
  }
  if (filter?.latest !== undefined && kept.length > filter.latest) {
    const keep = new Set([...kept].sort(compareTagsDescending).slice(0, filter.latest))
    for (const tag of kept) if (!keep.has(tag)) excluded.push({ tag, reason: 'latest' })
    kept = kept.filter((tag) => keep.has(tag))
  }
  // Report exclusions in input order, whatever filter dropped them.
  const position = new Map(unique.map((tag, i) => [tag, i]))
  excluded.sort((a, b) => position.get(a.tag)! - position.get(b.tag)!)
  return { selected: kept, excluded }
}

const TAG_VERSION = /^[vV]?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$/

/**
 * A tag read as a version: an optional `v`, then 1 to 3 numeric parts (`1.25` is 1.25.0), then an
 * optional -prerelease and +build. So `1.2.3-alpine` is a prerelease of 1.2.3, as semver says:
 * ranges skip it unless they name a prerelease of that same version. Anything else is not a version.
 */
export function tagVersion(tag: string): semver.SemVer | null {
  const m = TAG_VERSION.exec(tag)
  if (!m) return null
  const [, major, minor = '0', patch = '0', pre, build] = m
  const text = `${major}.${minor}.${patch}${pre ? `-${pre}` : ''}${build ? `+${build}` : ''}`
  return semver.parse(text, { loose: true })
}

function satisfiesRange(tag: string, range: string): boolean {
  const version = tagVersion(tag)
  return version !== null && semver.satisfies(version, range, { loose: true })
}

/**
 * Order for `latest: N`, highest first: version tags by semver precedence (prereleases below their
 * release), then every tag that is not a version (`latest`, `main`, `sha-1a2b`) in descending
 * natural order — so they are kept only when fewer than N version tags pass. Ties (v1.2 and 1.2.0)
 * break by the tag text, so the result never depends on input order.
 */
export function compareTagsDescending(a: string, b: string): number {
  const va = tagVersion(a)
  const vb = tagVersion(b)
  if (va && vb) return semver.compareBuild(vb, va) || compareText(b, a)
  if (va) return -1
  if (vb) return 1
  return compareText(b, a)
}

function compareText(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true }) || (a < b ? -1 : a > b ? 1 : 0)
}

export interface Shard {
  index: number
  count: number
}

/** Which of n shards a repository belongs to: FNV-1a (32-bit) of its UTF-8 path, mod n. Stable across runs and hosts. */
export function shardOf(repository: string, n: number): number {
  if (!Number.isSafeInteger(n) || n < 1)
    throw new ImgsyncError('INVALID_ARGUMENT', `shard count must be a positive integer, got ${n}`)
  let hash = 0x811c9dc5
  for (const byte of new TextEncoder().encode(repository)) {
    hash ^= byte
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash % n
}

/** Whether repository falls in shard (undefined shard: everything does). */
export function inShard(repository: string, shard: Shard | undefined): boolean {
  return shard === undefined || shardOf(repository, shard.count) === shard.index
}

/** Parses `--shard i/n` (0 ≤ i < n), e.g. `0/3`. */
export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text)
  const usage = 'write --shard INDEX/COUNT with 0 <= INDEX < COUNT, e.g. 0/3'
  if (!m) throw new ImgsyncError('INVALID_ARGUMENT', `invalid shard ${JSON.stringify(text)}; ${usage}`)
  const index = Number(m[1])
  const count = Number(m[2])
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new ImgsyncError(
      'INVALID_ARGUMENT',
      `invalid shard ${JSON.stringify(text)}: COUNT must be at least 1; ${usage}`,
    )
  }
  if (index >= count) {
    throw new ImgsyncError(
      'INVALID_ARGUMENT',
      `invalid shard ${JSON.stringify(text)}: INDEX must be below ${count}; ${usage}`,
    )
  }
  return { index, count }
}

function trimSlashes(namespace: string): string {
  return namespace.replace(/^\/+|\/+$/g, '')
}
