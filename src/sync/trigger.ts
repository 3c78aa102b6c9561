import type { BlobLocations } from '../copy/blob-copier.js'
import { parsePlatform } from '../copy/platforms.js'
import type { TargetTags } from '../copy/tag-cache.js'
import { ImgsyncError, toImgsyncError } from '../errors.js'
import type { RecordWriter } from '../records/store.js'
import type { TriggerType } from '../records/types.js'
import type { Shard } from '../rules/match.js'
import type { Rule, RuleFile } from '../rules/schema.js'
import { withRuleLock } from './lock.js'
import { planRule, typesFilter } from './plan-rule.js'
import { RegistryPool } from './registries.js'
import { type Plan, runTask, type TaskListener, type TaskResult } from './run-task.js'

/** Picks rules by name (each must exist and be enabled) or every enabled rule. */
export function selectRules(config: RuleFile, names: string[], all: boolean): Rule[] {
  if (all) return config.rules.filter((r) => r.enabled)
  if (names.length === 0) {
    throw new ImgsyncError('INVALID_ARGUMENT', 'name at least one rule, or pass --all', {
      suggestions: ['imgsync rule list shows the rules'],
    })
  }
  return [...new Set(names)].map((name) => {
    const rule = config.rules.find((r) => r.name === name)
    if (!rule) {
      const known = config.rules.map((r) => r.name)
      throw new ImgsyncError('RULE_NOT_FOUND', `no rule named "${name}"`, {
        suggestions: [
          known.length > 0 ? `known rules: ${known.join(', ')}` : 'create one with imgsync rule create',
        ],
      })
    }
    if (!rule.enabled) {
      throw new ImgsyncError('RULE_DISABLED', `rule "${name}" is disabled`, {
        suggestions: [`enable it with: imgsync rule enable ${name}`],
      })
    }
    return rule
  })
}

export interface TriggerOptions {
  ruleFile: string
  config: RuleFile
  rules: Rule[]
  trigger: TriggerType
  dryRun: boolean
  concurrency: number
  shard?: Shard
  records: RecordWriter
  /** where per-rule lock files live */
  lockDir: string
  /** how long to wait for a rule another run holds; 0 fails at once with LOCKED */
  waitMs: number
  maxDelete?: number
  listener?: TaskListener
  signal?: AbortSignal
  pool?: RegistryPool
  /** where target blob locations are remembered across runs (default: in memory) */
  blobLocations?: BlobLocations
  /** target tag digests remembered across runs (default: none) */
  targetTags?: TargetTags
  /** replaces the rule's own plan (serve uses it to sync just a pushed tag) */
  plan?: (rule: Rule, pool: RegistryPool) => Promise<Plan>
}

export interface RuleRun {
  rule: string
  result?: TaskResult
  /** the rule did not run (LOCKED) */
  error?: ImgsyncError
}

/** Runs each rule as one task, one after another, each under its own lock. */
export async function triggerRules(opts: TriggerOptions): Promise<RuleRun[]> {
  const pool = opts.pool ?? new RegistryPool()
  const runs: RuleRun[] = []
  for (const rule of opts.rules) {
    if (opts.signal?.aborted) break
    const run = () =>
      runTask({
        trigger: opts.trigger,
        rule: rule.name,
        source: `${rule.source.registry}/${rule.source.namespace}`,
        target: `${rule.target.registry}/${rule.target.namespace}`,
        override: rule.override,
        dryRun: opts.dryRun,
        concurrency: opts.concurrency,
        types: typesFilter(rule),
        referrers: rule.referrers,
        platforms: rule.platforms?.map(parsePlatform),
        ...(opts.shard && { shard: `${opts.shard.index}/${opts.shard.count}` }),
        plan: () =>
          opts.plan?.(rule, pool) ??
          planRule(rule, opts.config, opts.ruleFile, pool, {
            shard: opts.shard,
            concurrency: opts.concurrency,
          }),
        records: opts.records,
        blobLocations: opts.blobLocations,
        targetTags: opts.targetTags,
        blobMinRate: pool.blobMinRate,
        maxDelete: opts.maxDelete,
        listener: opts.listener,
        signal: opts.signal,
      })
    try {
      // a dry run changes nothing, so it needs no lock
      const result = opts.dryRun
        ? await run()
        : await withRuleLock(
            opts.lockDir,
            rule.name,
            opts.waitMs,
            run,
            opts.shard && `${opts.shard.index}/${opts.shard.count}`,
          )
      runs.push({ rule: rule.name, result })
    } catch (err) {
      const e = toImgsyncError(err)
      if (e.code !== 'LOCKED') throw e
      runs.push({ rule: rule.name, error: e })
    }
  }
  return runs
}
