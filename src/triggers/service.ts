import { Cron } from 'croner'
import pLimit from 'p-limit'
import { toImgsyncError } from '../errors.js'
import type { TriggerType } from '../records/types.js'
import { type Env, type LoadedRuleFile, loadRuleFile } from '../rules/load.js'
import { inShard, type Shard } from '../rules/match.js'
import type { Rule } from '../rules/schema.js'
import { planPush } from '../sync/plan-rule.js'
import { createRunContext, type RunContext, type RunContextOptions } from '../sync/run-context.js'
import { type RuleRun, type TriggerOptions, triggerRules } from '../sync/trigger.js'
import type { ParsedEvents, PushEvent } from './events.js'
import type { ServeMetrics } from './metrics.js'
import { whenPushVisible } from './push-visible.js'

export interface ServeOptions {
  configPath: string
  /** answers the rule file's `${VAR}` references */
  env: Env
  /** how runs are set up (records, caches, network); the service adds its own stop signal */
  run: Omit<RunContextOptions, 'signal'>
  /** images in flight within one task */
  concurrency: number
  /** tasks (push events, schedules) running at once */
  workers: number
  shard?: Shard
  /** IMGSYNC_WEBHOOK_TOKEN; wins over the rule file's serve.webhookToken */
  webhookToken?: string
  metrics: ServeMetrics
  /** one line per event worth telling an operator (stderr) */
  say: (line: string) => void
}

/** How long a push-triggered task waits for a manual or scheduled run of the same rule. */
const AUTO_LOCK_WAIT_MS = 10 * 60_000
/** Push event ids remembered for deduplication (distribution retries deliveries). */
const SEEN_EVENTS = 10_000
/** Push tasks waiting for a worker; beyond this a webhook is answered 503 (the sender retries). */
export const MAX_QUEUED = 1000

/**
 * The long-running side of imgsync: schedule rules on their cron, auto rules on push events,
 * everything through the same engine and records as `rule trigger`.
 */
export class SyncService {
  private loaded: LoadedRuleFile
  private crons: Cron[] = []
  private readonly limit: ReturnType<typeof pLimit>
  private readonly seen = new Set<string>()
  /** queued, not yet started push tasks by rule, repository and tag: a newer push joins the queued one */
  private readonly waiting = new Map<string, { digest?: string }>()
  /** the digest each running push task syncs, by rule, repository and tag */
  private readonly syncing = new Map<string, string | undefined>()
  private readonly controller = new AbortController()
  private readonly running = new Set<Promise<unknown>>()
  private readonly ctx: RunContext
  private stopping = false

  private constructor(
    private readonly opts: ServeOptions,
    loaded: LoadedRuleFile,
  ) {
    this.loaded = loaded
    this.limit = pLimit(Math.max(1, opts.workers))
    this.ctx = createRunContext({ ...opts.run, signal: this.controller.signal })
  }

  static async create(opts: ServeOptions): Promise<SyncService> {
    return new SyncService(opts, await loadRuleFile(opts.configPath, opts.env))
  }

  /** The rule file's literal passwords (registry names), for the warning at start. */
  get literalPasswords(): string[] {
    return this.loaded.literalPasswords
  }

  get rules(): Rule[] {
    return this.loaded.config.rules
  }

  webhookToken(): string | undefined {
    return this.opts.webhookToken || this.loaded.config.serve?.webhookToken || undefined
  }

  /** Schedules every enabled schedule rule; croner's `protect` keeps one rule's runs from overlapping. */
  start(): void {
    for (const rule of this.rules) {
      if (!rule.enabled || rule.trigger.type !== 'schedule') continue
      const { cron, timezone } = rule.trigger
      const job = new Cron(cron, { timezone, protect: true, catch: true }, async () => {
        await this.track(this.runRule(rule, 'scheduled'))
      })
      this.crons.push(job)
      this.opts.say(
        `rule ${rule.name}: scheduled "${cron}"${timezone ? ` ${timezone}` : ''}, next ${job.nextRun()?.toISOString()}`,
      )
    }
    const auto = this.rules.filter((r) => r.enabled && r.trigger.type === 'auto').map((r) => r.name)
    if (auto.length > 0) this.opts.say(`auto rules (on push): ${auto.join(', ')}`)
  }

  /** Runs every enabled auto rule once, for images pushed before the rule existed. */
  async backfill(): Promise<void> {
    const auto = this.rules.filter((r) => r.enabled && r.trigger.type === 'auto')
    await Promise.all(auto.map((rule) => this.track(this.limit(() => this.runRule(rule, 'auto')))))
  }

  /** SIGHUP: re-read the rule file; on an error keep the rules that are running now. */
  async reload(): Promise<void> {
    try {
      const next = await loadRuleFile(this.opts.configPath, this.opts.env)
      for (const c of this.crons) c.stop()
      this.crons = []
      this.loaded = next
      this.start()
      this.opts.say(`reloaded ${this.opts.configPath}: ${next.config.rules.length} rules`)
    } catch (err) {
      const e = toImgsyncError(err, 'CONFIG_INVALID')
      this.opts.say(`reload failed, keeping the previous rules: ${e.code}: ${e.message}`)
    }
  }

  /** Whether the queue has room for another webhook delivery (else it is answered 503). */
  get acceptsEvents(): boolean {
    return this.limit.pendingCount < MAX_QUEUED
  }

  /** Accepts parsed webhook events: deduplicate, coalesce, match auto rules, queue; returns at once. */
  receive(source: 'distribution' | 'harbor', parsed: ParsedEvents): Record<string, number> {
    const counts: Record<string, number> = {
      queued: 0,
      coalesced: 0,
      duplicate: 0,
      unknown_host: 0,
      filtered: 0,
      ignored: parsed.ignored,
      invalid: parsed.invalid,
    }
    const { metrics } = this.opts
    if (parsed.ignored > 0) metrics.events.inc({ source, result: 'ignored' }, parsed.ignored)
    if (parsed.invalid > 0) metrics.events.inc({ source, result: 'invalid' }, parsed.invalid)
    for (const push of parsed.pushes) {
      const result = this.queuePush(push)
      counts[result] = (counts[result] ?? 0) + 1
      metrics.events.inc({ source, result })
    }
    return counts
  }

  private queuePush(push: PushEvent): 'queued' | 'coalesced' | 'duplicate' | 'unknown_host' | 'filtered' {
    if (this.stopping) return 'filtered'
    if (this.seen.has(push.id)) return 'duplicate'
    this.seen.add(push.id)
    if (this.seen.size > SEEN_EVENTS) this.seen.delete(this.seen.values().next().value!)
    const { registries } = this.loaded.config
    const fromHost = (r: Rule) => registries[r.source.registry]?.host === push.host
    if (!this.rules.some(fromHost)) return 'unknown_host'
    const rules = this.rules.filter(
      (r) =>
        r.enabled && r.trigger.type === 'auto' && fromHost(r) && inShard(push.repository, this.opts.shard),
    )
    const { config, file } = this.loaded
    // the plan is pure and cheap: made once here, to filter, and handed to the queued task
    const wanted = rules
      .map((rule) => ({ rule, plan: planPush(rule, config, file, this.ctx.pool, push.repository, push.tag) }))
      .filter(({ plan }) => plan.items.length > 0)
    if (wanted.length === 0) return 'filtered'
    let queued = false
    for (const { rule, plan } of wanted) {
      const key = `${rule.name}\n${push.repository}\n${push.tag}`
      const pending = this.waiting.get(key)
      if (pending) {
        // the queued task has not looked at the tag yet: it syncs this newer push instead
        pending.digest = push.digest
        continue
      }
      // the same digest is being synced right now: this push brings nothing new
      if (push.digest !== undefined && this.syncing.has(key) && this.syncing.get(key) === push.digest)
        continue
      const wait = { digest: push.digest }
      this.waiting.set(key, wait)
      queued = true
      void this.track(
        this.limit(async () => {
          this.waiting.delete(key)
          this.syncing.set(key, wait.digest)
          try {
            return await this.runRule(rule, 'auto', () =>
              whenPushVisible(plan, wait.digest, { signal: this.controller.signal }),
            )
          } finally {
            if (this.syncing.get(key) === wait.digest) this.syncing.delete(key)
          }
        }),
      )
    }
    this.updateQueueDepth()
    return queued ? 'queued' : 'coalesced'
  }

  private async runRule(rule: Rule, trigger: TriggerType, plan?: TriggerOptions['plan']) {
    if (this.stopping) return
    let runs: RuleRun[] = []
    try {
      runs = await triggerRules(
        {
          ruleFile: this.loaded.file,
          config: this.loaded.config,
          rules: [rule],
          trigger,
          dryRun: false,
          concurrency: this.opts.concurrency,
          shard: this.opts.shard,
          waitMs: trigger === 'auto' ? AUTO_LOCK_WAIT_MS : 0,
          plan,
        },
        this.ctx,
        this.opts.metrics.listener(),
      )
    } catch (err) {
      const e = toImgsyncError(err, 'INTERNAL')
      this.opts.say(`rule ${rule.name} (${trigger}): ${e.code}: ${e.message}`)
      return
    } finally {
      this.updateQueueDepth()
    }
    for (const run of runs) {
      if (run.error) this.opts.say(`rule ${rule.name} (${trigger}): ${run.error.code}: ${run.error.message}`)
      const t = run.result?.task
      if (t) {
        this.opts.say(
          `rule ${rule.name} (${trigger}): ${t.status}: ${t.synced} synced, ${t.skipped} skipped, ${t.failed} failed  task ${t.taskId}`,
        )
      }
    }
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.running.add(p)
    void p.finally(() => this.running.delete(p))
    return p
  }

  private updateQueueDepth(): void {
    this.opts.metrics.queueDepth.set(this.limit.pendingCount)
  }

  /** Registry request counts for /metrics. */
  registryStats() {
    return this.ctx.pool.stats()
  }

  health() {
    return {
      status: this.stopping ? 'stopping' : 'ok',
      rules: this.rules.length,
      scheduled: this.crons.length,
      running: this.limit.activeCount,
      queued: this.limit.pendingCount,
    }
  }

  /** SIGTERM: take no more work, interrupt what runs (recorded `interrupted`), wait for it. */
  async stop(): Promise<void> {
    this.stopping = true
    for (const c of this.crons) c.stop()
    this.controller.abort()
    await Promise.allSettled([...this.running])
    this.ctx.close()
  }
}
