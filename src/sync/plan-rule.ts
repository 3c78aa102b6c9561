import { readFileSync } from 'node:fs'
import pLimit from 'p-limit'
import { parseDocument } from 'yaml'
import { ImgsyncError, toImgsyncError } from '../errors.js'
import { registerSecret } from '../log.js'
import { warnIfReadableByOthers } from '../registry/credentials.js'
import type { ArtifactKind } from '../registry/media-types.js'
import { resolveRuleFilePath } from '../rules/load.js'
import { inShard, type Shard, selectRepositories, targetRepository } from '../rules/match.js'
import { ARTIFACT_TYPES, type RegistryEntry, type Rule, type RuleFile } from '../rules/schema.js'
import type { EndpointConfig, RegistryPool } from './registries.js'
import type { Exclusion, ItemPlan, Plan, Unlisted } from './run-task.js'
import { selectSyncTags } from './select-tags.js'

/** How to reach a named registry of the rule file; relative CA paths are relative to the file. */
export function endpointFor(config: RuleFile, name: string, ruleFile: string): EndpointConfig {
  const entry: RegistryEntry | undefined = config.registries[name]
  if (!entry) throw new ImgsyncError('CONFIG_INVALID', `${ruleFile}: unknown registry "${name}"`)
  if (!entry.host) {
    throw new ImgsyncError(
      'CONFIG_INVALID',
      `${ruleFile}: registry "${name}" is an oci-layout, which this command cannot use yet`,
    )
  }
  const tls = entry.tls && {
    ...entry.tls,
    ca: entry.tls.ca && resolveRuleFilePath(ruleFile, entry.tls.ca),
    cert: entry.tls.cert && resolveRuleFilePath(ruleFile, entry.tls.cert),
    key: entry.tls.key && resolveRuleFilePath(ruleFile, entry.tls.key),
  }
  if (entry.credentials) {
    registerSecret(entry.credentials.password)
    warnIfPlainTextPasswords(ruleFile)
  }
  return { host: entry.host, credentials: entry.credentials, tls, connections: entry.concurrency }
}

const checkedRuleFiles = new Set<string>()

/** Warns once when the rule file holds a literal (not `${ENV}`) password and others can read it. */
function warnIfPlainTextPasswords(ruleFile: string): void {
  if (checkedRuleFiles.has(ruleFile)) return
  checkedRuleFiles.add(ruleFile)
  let registries: unknown
  try {
    registries = parseDocument(readFileSync(ruleFile, 'utf8')).toJS()?.registries
  } catch {
    return
  }
  if (!registries || typeof registries !== 'object') return
  const literal = Object.entries(registries as Record<string, { credentials?: { password?: unknown } }>)
    .filter(([, e]) => {
      const pw = e?.credentials?.password
      return pw !== undefined && pw !== null && pw !== '' && !String(pw).includes('${')
    })
    .map(([name]) => name)
  if (literal.length === 0) return
  warnIfReadableByOthers(
    ruleFile,
    `holds a plain-text password (registries: ${literal.join(', ')}; better: password: "\${ENV_VAR}")`,
  )
}

/** The `types` filter to hand to the copy engine; undefined when every type is wanted (no extra GET). */
export function typesFilter(rule: Rule): ArtifactKind[] | undefined {
  const types = rule.source.types
  return ARTIFACT_TYPES.every((t) => types.includes(t)) ? undefined : [...types]
}

function display(host: string, repo: string, tag: string): string {
  return `${host}/${repo}:${tag}`
}

/** The repositories a rule covers: an explicit list needs no catalog; a regex lists the catalog. */
async function ruleRepositories(rule: Rule, listCatalog: () => Promise<string[]>): Promise<string[]> {
  const { namespace, repositories } = rule.source
  if (Array.isArray(repositories)) return repositories.map((r) => (namespace ? `${namespace}/${r}` : r))
  return selectRepositories(rule, await listCatalog())
}

/**
 * Plans one rule: repositories (catalog or list) → shard → tags → filters → items. Listing one
 * repository's tags can fail alone (deleted, no permission): it becomes a failed item, the rest go on.
 */
export async function planRule(
  rule: Rule,
  config: RuleFile,
  ruleFile: string,
  pool: RegistryPool,
  opts: { shard?: Shard; concurrency: number },
): Promise<Plan> {
  const srcCfg = endpointFor(config, rule.source.registry, ruleFile)
  const dstCfg = endpointFor(config, rule.target.registry, ruleFile)
  const src = pool.get(srcCfg)
  const dst = pool.get(dstCfg)
  const repos = (await ruleRepositories(rule, () => src.listRepositories())).filter((r) =>
    inShard(r, opts.shard),
  )
  const limit = pLimit(Math.max(1, opts.concurrency))
  const items: ItemPlan[] = []
  const excluded: Exclusion[] = []
  const unlisted: Unlisted[] = []
  await Promise.all(
    repos.map((repo) =>
      limit(async () => {
        const dstRepo = targetRepository(rule, repo)
        let tags: string[]
        try {
          tags = await src.listTags(repo)
        } catch (err) {
          unlisted.push({
            source: `${srcCfg.host}/${repo}`,
            target: `${dstCfg.host}/${dstRepo}`,
            repository: repo,
            error: toImgsyncError(err),
          })
          return
        }
        const sel = selectSyncTags(rule.source.tags, tags)
        for (const tag of sel.selected) {
          items.push({
            src,
            srcRepo: repo,
            srcRef: tag,
            dst,
            dstRepo,
            dstTag: tag,
            source: display(srcCfg.host, repo, tag),
            target: display(dstCfg.host, dstRepo, tag),
            tag,
          })
        }
        for (const ex of sel.excluded) {
          excluded.push({ source: display(srcCfg.host, repo, ex.tag), tag: ex.tag, reason: ex.reason })
        }
      }),
    ),
  )
  items.sort((a, b) => a.source.localeCompare(b.source))
  return { items, excluded, unlisted, repositories: repos.length }
}
