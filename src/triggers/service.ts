import { toImgsyncError } from '../errors.js'
import type { TaskRecord, TriggerType } from '../records/types.js'
import { type Env, type LoadedRuleFile, loadRuleFile } from '../rules/load.js'
import { inShard, type Shard } from '../rules/match.js'
import type { Rule } from '../rules/schema.js'
import { planPush } from '../sync/plan-rule.js'
import { createRunContext, type RunContext, type RunContextOptions } from '../sync/run-context.js'
import { runTask } from '../sync/run-task.js'
import type { Overlap } from '../sync/task.js'
import { type RuleRun, ruleTask, type TriggerOptions, triggerRules } from '../sync/trigger.js'
import type { ParsedEvents, PushEvent } from './events.js'
import { serveStateBase } from './instance-lock.js'
import { type PushJob, PushJournal } from './journal.js'
import type { ServeMetrics } from './metrics.js'
import { type JobOutcome, PushQueue } from './push-queue.js'
import { whenPushVisible } from './push-visible.js'
import { Schedules } from './schedules.js'

export interface ServeOptions {
  configPath: string
  /** answers the rule file's `${VAR}` references */
  env: Env
  /** how runs are set up (records, caches, network); the service adds its own stop signal */
  run: Omit<RunContextOptions, 'signal'>
  /** images in flight within one task */
  concurrency: number
  /** push jobs running at once (schedules and reconciles run beside them) */
  workers: number
  shard?: Shard
  /** IMGSYNC_WEBHOOK_TOKEN; wins over the rule file's serve.webhookToken */
  webhookToken?: string
  /** how long a push job whose registry is down keeps being retried */
  retryForMs: number
  /** how often auto rules are synced whole (what pushes missed); 0: never */
  reconcileMs: number
  /** a registry failing for longer than this makes /healthz say degraded */
  degradedAfterMs: number
  /** write skipped items of scheduled runs too (default: the task line carries their count) */
  verboseRecords?: boolean
  metrics: ServeMetrics
  /** one line per event worth telling an operator (stderr) */
  say: (line: string) => void
}

/** Push event ids remembered for deduplication (distribution retries deliveries). */
const SEEN_EVENTS = 10_000
/** Push jobs waiting before a webhook is answered 503 (the sender retries). */
export const MAX_QUEUED = 1000
/** Failure codes a later try may not meet: the registry was down, slow, or busy. */
const RETRYABLE = new Set(['NETWORK', 'TIMEOUT', 'RATE_LIMITED', 'REGISTRY_ERROR'])
/** The message of a push job's task that a stop cut short. */
const STOP_NOTE = 'serve stopped; the push stays in its journal and runs when serve starts again'

/**
 * The long-running side of imgsync: schedule rules on their cron, auto rules on push events (a
 * journalled queue) and a periodic reconcile, everything through the same engine and records as
 * `rule trigger`.
 */
export class SyncService {
  private loaded: LoadedRuleFile
  private readonly seen = new Set<string>()
  private readonly controller = new AbortController()
  private readonly ctx: RunContext
  private readonly journal: PushJournal
  private readonly queue: PushQueue
  private readonly schedules: Schedules
  private replayed = new Set<string>()
  private stopping = false

  private constructor(
    private readonly opts: ServeOptions,
    loaded: LoadedRuleFile,
  ) {
    this.loaded = loaded
    this.ctx = createRunContext({ ...opts.run, signal: this.controller.signal })
    // the state of this serve: beside its records (not *.jsonl: it is not records)
    this.journal = new PushJournal(`${serveStateBase(this.ctx.records.path, opts.shard)}.journal`)
    this.queue = new PushQueue({
      workers: opts.workers,
      journal: this.journal,
      run: (job) => this.runJob(job),
      retryForMs: opts.retryForMs,
      maxQueued: MAX_QUEUED,
      say: opts.say,
    })
    this.schedules = new Schedules({
      run: (rule, why, overlap) => this.runScheduled(rule, why, overlap),
      skipped: (rule, streak) => {
        opts.metrics.skippedTicks.inc({ rule: rule.name })
        if (streak === 1)
          opts.say(`rule ${rule.name}: a tick came while it still ran; skipping until it ends`)
      },
      say: opts.say,
    })
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

  /** Starts schedules and reconciles, and runs again the push jobs the journal kept. */
  start(): void {
    this.schedules.start(this.rules, this.opts.reconcileMs)
    const auto = this.rules.filter((r) => r.enabled && r.trigger.type === 'auto').map((r) => r.name)
    if (auto.length > 0) this.opts.say(`auto rules (on push): ${auto.join(', ')}`)
    const open = this.journal.load()
    if (open.length > 0) {
      this.opts.say(`replaying ${open.length} push job(s) accepted before the last stop`)
      this.replayed = new Set(open.map((j) => j.id))
      this.queue.replay(open)
    }
    this.updateGauges()
  }

  /** Runs every enabled auto rule once, for images pushed before the rule existed. */
  async backfill(): Promise<void> {
    const auto = this.rules.filter((r) => r.enabled && r.trigger.type === 'auto')
    await Promise.all(auto.map((rule) => this.schedules.tick(rule, 'reconcile')))
  }

  /** SIGHUP: re-read the rule file (on an error keep the rules running now); reopen the records file. */
  async reload(): Promise<void> {
    this.ctx.records.reopen()
    try {
      const next = await loadRuleFile(this.opts.configPath, this.opts.env)
      this.loaded = next
      this.schedules.start(this.rules, this.opts.reconcileMs)
      this.opts.say(`reloaded ${this.opts.configPath}: ${next.config.rules.length} rules`)
    } catch (err) {
      const e = toImgsyncError(err, 'CONFIG_INVALID')
      this.opts.say(`reload failed, keeping the previous rules: ${e.code}: ${e.message}`)
    }
  }

  /** Whether the queue has room for another webhook delivery (else it is answered 503). */
  get acceptsEvents(): boolean {
    return !this.stopping && this.queue.accepts
  }

  /** Accepts parsed webhook events: deduplicate, match auto rules, journal, queue; returns at once. */
  receive(source: 'distribution' | 'harbor', parsed: ParsedEvents): Record<string, number> {
    const counts: Record<string, number> = {
      queued: 0,
      coalesced: 0,
      duplicate: 0,
      unknown_host: 0,
      filtered: 0,
    }
    counts.ignored = parsed.ignored
    counts.invalid = parsed.invalid
    const { metrics } = this.opts
    if (parsed.ignored > 0) metrics.events.inc({ source, result: 'ignored' }, parsed.ignored)
    if (parsed.invalid > 0) metrics.events.inc({ source, result: 'invalid' }, parsed.invalid)
    const perPush: PushJob[][] = []
    for (const push of parsed.pushes) {
      const jobs = this.match(push)
      if (Array.isArray(jobs)) perPush.push(jobs)
      else this.count(counts, source, jobs)
    }
    // every job is written to the journal (once, durably) before the sender hears 202
    const results = this.queue.add(perPush.flat())
    let at = 0
    for (const jobs of perPush) {
      const mine = results.slice(at, at + jobs.length)
      at += jobs.length
      this.count(counts, source, mine.includes('queued') ? 'queued' : 'coalesced')
    }
    this.updateGauges()
    return counts
  }

  private count(counts: Record<string, number>, source: string, result: string): void {
    counts[result] = (counts[result] ?? 0) + 1
    this.opts.metrics.events.inc({ source, result })
  }

  /** The jobs a push makes (one per auto rule it is for), or why it makes none. */
  private match(push: PushEvent): PushJob[] | 'duplicate' | 'unknown_host' | 'filtered' {
    if (this.stopping) return 'filtered'
    if (this.seen.has(push.id)) return 'duplicate'
    this.seen.add(push.id)
    if (this.seen.size > SEEN_EVENTS) this.seen.delete(this.seen.values().next().value!)
    const { registries } = this.loaded.config
    const fromHost = (r: Rule) => registries[r.source.registry]?.host === push.host
    if (!this.rules.some(fromHost)) return 'unknown_host'
    const { config, file } = this.loaded
    const rules = this.rules.filter(
      (r) =>
        r.enabled &&
        r.trigger.type === 'auto' &&
        fromHost(r) &&
        inShard(push.repository, this.opts.shard) &&
        planPush(r, config, file, this.ctx.pool, push.repository, push.tag).items.length > 0,
    )
    if (rules.length === 0) return 'filtered'
    const { repository, tag, digest } = push
    return rules.map((rule) => ({
      id: `${push.id}#${rule.name}`,
      rule: rule.name,
      repository,
      tag,
      digest,
      at: Date.now(),
    }))
  }

  /** One push job: the rule's task for the pushed tag; a registry that is down means try again. */
  private async runJob(job: PushJob): Promise<JobOutcome> {
    const rule = this.rules.find((r) => r.name === job.rule && r.enabled && r.trigger.type === 'auto')
    if (!rule || this.stopping) return this.stopping ? 'interrupted' : 'done'
    const { config, file } = this.loaded
    const plan = planPush(rule, config, file, this.ctx.pool, job.repository, job.tag)
    if (plan.items.length === 0) return 'done'
    const replayed = this.replayed.delete(job.id)
    const runs = await this.runRule(rule, 'auto', {
      plan: () => whenPushVisible(plan, job.digest, { signal: this.controller.signal }),
      lock: false,
      replayed,
      stopNote: STOP_NOTE,
    })
    const task = runs[0]?.result?.task
    if (!task) return this.stopping ? 'interrupted' : 'retry'
    if (task.status === 'interrupted') return 'interrupted'
    return failedForNow(
      task,
      runs[0]?.result?.items.map((i) => i.code),
    )
      ? 'retry'
      : 'done'
  }

  private async runScheduled(rule: Rule, why: 'scheduled' | 'reconcile', overlap: Overlap): Promise<void> {
    await this.runRule(rule, why === 'scheduled' ? 'scheduled' : 'auto', {
      recordSkipped: this.opts.verboseRecords === true,
      overlap,
    })
  }

  private async runRule(
    rule: Rule,
    trigger: TriggerType,
    extra: Partial<TriggerOptions> = {},
  ): Promise<RuleRun[]> {
    if (this.stopping) return []
    let runs: RuleRun[] = []
    try {
      runs = await triggerRules(
        { ...this.triggerOptions(rule, trigger), ...extra },
        this.ctx,
        this.opts.metrics.listener(),
      )
    } catch (err) {
      const e = toImgsyncError(err, 'INTERNAL')
      this.opts.say(`rule ${rule.name} (${trigger}): ${e.code}: ${e.message}`)
      return []
    } finally {
      this.updateGauges()
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
    return runs
  }

  private triggerOptions(rule: Rule, trigger: TriggerType): TriggerOptions {
    return {
      ruleFile: this.loaded.file,
      config: this.loaded.config,
      rules: [rule],
      trigger,
      dryRun: false,
      concurrency: this.opts.concurrency,
      shard: this.opts.shard,
      waitMs: 0,
    }
  }

  private updateGauges(): void {
    this.opts.metrics.queueDepth.set(this.queue.queued)
    this.opts.metrics.journalPending.set(this.journal.pending)
  }

  /** Registry request counts for /metrics. */
  registryStats() {
    return this.ctx.pool.stats()
  }

  health() {
    const now = Date.now()
    const failing = this.ctx.pool
      .stats()
      .filter((s) => s.failingSince !== undefined && now - s.failingSince > this.opts.degradedAfterMs)
      .map((s) => `${s.registry} failing for ${Math.round((now - s.failingSince!) / 1000)}s`)
    return {
      status: this.stopping ? 'stopping' : failing.length > 0 ? 'degraded' : 'ok',
      ...(failing.length > 0 && { reasons: failing }),
      rules: this.rules.length,
      scheduled: this.schedules.count,
      running: this.queue.running + this.schedules.running,
      queued: this.queue.queued,
      journal: this.journal.pending,
    }
  }

  /**
   * SIGTERM: takes no new pushes and stops the schedules; the queue gets `graceMs` to drain, then
   * what still runs is interrupted. Every push job not finished is recorded `interrupted` and stays
   * in the journal, to run at the next start.
   */
  async stop(graceMs: number): Promise<{ left: number }> {
    this.schedules.stop()
    const { left, unstarted } = await this.queue.drain(graceMs, () => {
      this.stopping = true
      this.controller.abort()
    })
    this.stopping = true
    for (const job of unstarted) await this.recordUnstarted(job)
    this.ctx.close()
    return { left }
  }

  /** The records of a push job the stop left before it began: its items, interrupted. */
  private async recordUnstarted(job: PushJob): Promise<void> {
    const rule = this.rules.find((r) => r.name === job.rule)
    if (!rule) return
    const { config, file } = this.loaded
    const plan = planPush(rule, config, file, this.ctx.pool, job.repository, job.tag)
    if (plan.items.length === 0) return
    // the service's signal is aborted: the task records each item interrupted and copies nothing
    await runTask(
      ruleTask(
        rule,
        { ...this.triggerOptions(rule, 'auto'), plan: async () => plan, stopNote: STOP_NOTE },
        this.ctx,
      ),
    )
  }
}

/** A task whose failures a later try may fix: the registry was down, slow or busy. */
function failedForNow(task: TaskRecord, codes: (string | undefined)[] = []): boolean {
  if (task.status === 'failed' && task.code && RETRYABLE.has(task.code)) return true
  return task.failed > 0 && codes.some((c) => c !== undefined && RETRYABLE.has(c))
}
