import pLimit from 'p-limit'
import { ImgsyncError, toImgsyncError } from '../errors.js'
import { registerSecret } from '../log.js'
import type { RegistryApi } from '../registry/api.js'
import type { ArtifactKind } from '../registry/media-types.js'
import { isValidRepository, isValidTag } from '../registry/names.js'
import { resolveRuleFilePath } from '../rules/load.js'
import { inShard, type Shard, selectRepositories, targetRepository } from '../rules/match.js'
import { entryLanes } from '../rules/registry-schema.js'
import { ARTIFACT_TYPES, type RegistryEntry, type Rule, type RuleFile } from '../rules/schema.js'
import { printable } from '../text.js'
import {
  display,
  type Exclusion,
  exclusion,
  type ItemPlan,
  invalidNameFailure,
  type ListedTags,
  type Plan,
  type PlanFailure,
  type PlanFeed,
} from './plan.js'
import type { PruneScope } from './prune.js'
import { type EndpointConfig, endpointName, type Registries } from './registries.js'
import { selectSyncTags } from './select-tags.js'

/** How to reach a named registry of the rule file; relative CA paths are relative to the file. */
export function endpointFor(config: RuleFile, name: string, ruleFile: string): EndpointConfig {
  const entry: RegistryEntry | undefined = config.registries[name]
  if (!entry) throw new ImgsyncError('CONFIG_INVALID', `${ruleFile}: unknown registry "${name}"`)
  const layout = entry['oci-layout']
  // a layout registry is a directory of layouts, one per repository (air-gapped transfer)
  if (layout) return { kind: 'layout', path: resolveRuleFilePath(ruleFile, layout.path), mode: 'multi' }
  if (!entry.host) throw new ImgsyncError('CONFIG_INVALID', `${ruleFile}: registry "${name}" has no host`)
  const tls = entry.tls && {
    ...entry.tls,
    ca: entry.tls.ca && resolveRuleFilePath(ruleFile, entry.tls.ca),
    cert: entry.tls.cert && resolveRuleFilePath(ruleFile, entry.tls.cert),
    key: entry.tls.key && resolveRuleFilePath(ruleFile, entry.tls.key),
  }
  if (entry.credentials) registerSecret(entry.credentials.password)
  return {
    kind: 'registry',
    host: entry.host,
    credentials: entry.credentials,
    tls,
    ...(entry.concurrency !== undefined && { concurrency: entryLanes(entry.concurrency) }),
    ...(entry.limits && { limits: entry.limits }),
    ...(entry.upload?.chunkSize && { chunkSize: entry.upload.chunkSize }),
  }
}

/** The `types` filter to hand to the copy engine; undefined when every type is wanted (no extra GET). */
export function typesFilter(rule: Rule): ArtifactKind[] | undefined {
  const types = rule.source.types
  return ARTIFACT_TYPES.every((t) => types.includes(t)) ? undefined : [...types]
}

/** The repositories a rule covers: an explicit list needs no catalog; a regex lists the catalog. */
async function ruleRepositories(rule: Rule, listCatalog: () => Promise<string[]>): Promise<string[]> {
  const { namespace, repositories } = rule.source
  if (Array.isArray(repositories)) return repositories.map((r) => (namespace ? `${namespace}/${r}` : r))
  return selectRepositories(rule, await listCatalog())
}

interface RuleEndpoints {
  /** how records name the source and target: host[:port] or oci:PATH */
  srcName: string
  dstName: string
  src: RegistryApi
  dst: RegistryApi
}

/** The endpoint of a rule's side, saying on AUTH_FAILED where that side's credentials are set. */
function sideOf(config: RuleFile, name: string, ruleFile: string, side: 'source' | 'target'): EndpointConfig {
  const cfg = endpointFor(config, name, ruleFile)
  if (cfg.kind !== 'registry') return cfg
  const options = [
    `the ${side} is registry "${name}" of ${ruleFile}: set registries.${name}.credentials (password: "\${VAR}"), or docker login ${cfg.host}`,
  ]
  return { ...cfg, authHelp: { side, options } }
}

function ruleEndpoints(rule: Rule, config: RuleFile, ruleFile: string, pool: Registries): RuleEndpoints {
  const srcCfg = sideOf(config, rule.source.registry, ruleFile, 'source')
  const dstCfg = sideOf(config, rule.target.registry, ruleFile, 'target')
  return {
    srcName: endpointName(srcCfg),
    dstName: endpointName(dstCfg),
    src: pool.get(srcCfg),
    dst: pool.get(dstCfg),
  }
}

function ruleItem(e: RuleEndpoints, repo: string, dstRepo: string, tag: string): ItemPlan {
  return {
    src: e.src,
    srcRepo: repo,
    srcRef: tag,
    dst: e.dst,
    dstRepo,
    dstTag: tag,
    source: display(e.srcName, repo, tag),
    target: display(e.dstName, dstRepo, tag),
    tag,
  }
}

/**
 * The plan for one pushed tag (an `auto` rule's push event): one item when the repository and tag
 * pass the rule's filters, else nothing, with the reason. `latest` does not apply to a single push.
 */
export function planPush(
  rule: Rule,
  config: RuleFile,
  ruleFile: string,
  pool: Registries,
  repo: string,
  tag: string,
): Plan {
  const endpoints = ruleEndpoints(rule, config, ruleFile, pool)
  const { latest: _ignored, ...filter } = rule.source.tags ?? {}
  // names from a push event are untrusted: an invalid one is never planned, whatever the filters say
  const valid = isValidRepository(repo) && isValidTag(tag)
  const inRule = valid && selectRepositories(rule, [repo]).length === 1
  const outside = valid
    ? { reason: 'repository', detail: `repository ${printable(repo)} is not one the rule copies` }
    : { reason: 'not a valid repository or tag name', detail: 'not a valid repository or tag name' }
  const sel = inRule ? selectSyncTags(filter, [tag]) : { selected: [], excluded: [{ tag, ...outside }] }
  if (sel.selected.length === 0) {
    const { reason, detail } = sel.excluded[0] ?? { reason: 'filtered', detail: 'left out by the filters' }
    return {
      items: [],
      excluded: [exclusion(endpoints.srcName, printable(repo), { tag, reason, detail })],
      repositories: 0,
    }
  }
  return {
    items: [ruleItem(endpoints, repo, targetRepository(rule, repo), tag)],
    excluded: [],
    repositories: 1,
  }
}

/**
 * Plans one rule: repositories (catalog or list) → shard → tags → filters → items. Listing one
 * repository's tags can fail alone (deleted, no permission): it becomes a failed item, the rest go on.
 */
export async function planRule(
  rule: Rule,
  config: RuleFile,
  ruleFile: string,
  pool: Registries,
  opts: { shard?: Shard; concurrency: number; feed?: PlanFeed },
): Promise<Plan> {
  const endpoints = ruleEndpoints(rule, config, ruleFile, pool)
  const { srcName, dstName, src, dst } = endpoints
  const all = (await ruleRepositories(rule, () => src.listRepositories())).filter((r) =>
    inShard(r, opts.shard),
  )
  const items: ItemPlan[] = []
  const excluded: Exclusion[] = []
  const failures: PlanFailure[] = []
  const prune: PruneScope[] = []
  const listed: ListedTags[] = []
  // a catalog entry that is not a valid name (`team-a/../../victim`) is never listed or copied
  const repos = all.filter((repo) => isValidRepository(repo))
  for (const repo of all.filter((r) => !isValidRepository(r))) {
    const at = { source: srcName, target: `${dstName}/${rule.target.namespace}`, repository: '*' }
    failures.push(invalidNameFailure('repository', repo, at))
  }
  const limit = pLimit(Math.max(1, opts.concurrency))
  await Promise.all(
    repos.map((repo) =>
      limit(async () => {
        const dstRepo = targetRepository(rule, repo)
        const at = { source: `${srcName}/${repo}`, target: `${dstName}/${dstRepo}`, repository: repo }
        let tags: string[]
        try {
          tags = await src.listTags(repo)
        } catch (err) {
          failures.push({ ...at, tag: '*', error: toImgsyncError(err) })
          return
        }
        const listing: ListedTags = { api: src, repo, tags }
        listed.push(listing)
        const sel = selectSyncTags(rule.source.tags, tags)
        if (rule.prune) {
          prune.push({ dst, dstRepo, target: at.target, sourceTags: tags, filter: rule.source.tags })
        }
        const mine = sel.selected.map((tag) => ruleItem(endpoints, repo, dstRepo, tag))
        items.push(...mine)
        // this repository's tags copy now, while the others are still being listed
        opts.feed?.({ items: mine, listed: [listing] })
        for (const ex of sel.excluded) excluded.push(exclusion(srcName, repo, ex))
        for (const tag of sel.invalid) failures.push(invalidNameFailure('tag', tag, at))
      }),
    ),
  )
  items.sort((a, b) => a.source.localeCompare(b.source))
  return { items, excluded, failures, listed, repositories: all.length, ...(rule.prune && { prune }) }
}
