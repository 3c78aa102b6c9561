import { parsePlatform } from '../copy/platforms.js'
import { ImgsyncError, toImgsyncError } from '../errors.js'
import type { TriggerType } from '../records/types.js'
import type { Shard } from '../rules/match.js'
import type { Rule, RuleFile } from '../rules/schema.js'
import { withRuleLock } from './lock.js'
import type { Plan } from './plan.js'
import { planRule, typesFilter } from './plan-rule.js'
import type { RegistryPool } from './registries.js'
import type { RunContext } from './run-context.js'
import { runTask } from './run-task.js'
import type { Overlap, TaskListener, TaskResult, TaskSpec } from './task.js'

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

/** Which rules to run, and how: the rest comes from the run context. */
export interface TriggerOptions {
  ruleFile: string
  config: RuleFile
  rules: Rule[]
  trigger: TriggerType
  dryRun: boolean
  concurrency: number
  shard?: Shard
  /** how long to wait for a rule another run holds; 0 fails at once with LOCKED */
  waitMs: number
  /** told when a rule's run waits for another run that holds its lock (waitMs > 0) */
  onLockWait?: (rule: string) => void
  maxDelete?: number
  /** replaces the rule's own plan (serve uses it to sync just a pushed tag) */
  plan?: (rule: Rule, pool: RegistryPool) => Promise<Plan>
  /** run under the rule's lock (default); a single pushed tag needs none */
  lock?: boolean
  /** the task runs a push job kept in serve's journal from before a stop */
  replayed?: boolean
  /** write skipped items (default); false: the task line carries their count */
  recordSkipped?: boolean
  /** schedule ticks skipped while the rule runs, for its task line */
  overlap?: Overlap
  /** what a stop means for this task (its `interrupted` message) */
  stopNote?: string
}

export interface RuleRun {
  rule: string
  result?: TaskResult
  /** the rule did not run (LOCKED) */
  error?: ImgsyncError
}

/** The task that runs `rule` as `opts` say. */
export function ruleTask(
  rule: Rule,
  opts: TriggerOptions,
  ctx: RunContext,
  listener?: TaskListener,
): TaskSpec {
  const { pool } = ctx
  const shard = opts.shard && `${opts.shard.index}/${opts.shard.count}`
  return {
    ...ctx,
    listener,
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
    ...(shard && { shard }),
    plan: (feed) =>
      opts.plan?.(rule, pool) ??
      planRule(rule, opts.config, opts.ruleFile, pool, {
        shard: opts.shard,
        concurrency: opts.concurrency,
        feed,
      }),
    maxDelete: opts.maxDelete,
    ...(opts.replayed && { replayed: true }),
    ...(opts.recordSkipped === false && { recordSkipped: false }),
    ...(opts.overlap && { overlap: opts.overlap }),
    ...(opts.stopNote && { stopNote: opts.stopNote }),
  }
}

/** Runs each rule as one task, one after another, each under its own lock (unless told not to). */
export async function triggerRules(
  opts: TriggerOptions,
  ctx: RunContext,
  listener?: TaskListener,
): Promise<RuleRun[]> {
  const shard = opts.shard && `${opts.shard.index}/${opts.shard.count}`
  const runs: RuleRun[] = []
  for (const rule of opts.rules) {
    if (ctx.signal.aborted) break
    const run = () => runTask(ruleTask(rule, opts, ctx, listener))
    try {
      // a dry run changes nothing, and a single pushed tag cannot race a whole run: no lock
      const result =
        opts.dryRun || opts.lock === false
          ? await run()
          : await withRuleLock(ctx.lockDir, rule.name, opts.waitMs, run, {
              shard,
              signal: ctx.signal,
              onWait: () => opts.onLockWait?.(rule.name),
            })
      runs.push({ rule: rule.name, result })
    } catch (err) {
      const e = toImgsyncError(err)
      // stopped while waiting for another run's lock: this rule and the rest are not run
      if (e.code === 'INTERRUPTED' && ctx.signal.aborted) break
      if (e.code !== 'LOCKED') throw e
      runs.push({ rule: rule.name, error: e })
    }
  }
  return runs
}
