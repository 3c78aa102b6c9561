import { Counter, Gauge, Registry } from 'prom-client'
import type { ItemRecord, TaskRecord } from '../records/types.js'
import type { RequestCounts } from '../registry/api.js'
import type { TaskListener } from '../sync/task.js'

/**
 * Prometheus metrics of `imgsync serve`. They hang off the engine's task events, so what they count
 * is exactly what the records say.
 */
export class ServeMetrics {
  readonly registry = new Registry()
  readonly tasks = new Counter({
    name: 'imgsync_tasks_total',
    help: 'Finished sync tasks by rule, trigger and status.',
    labelNames: ['rule', 'trigger', 'status'] as const,
    registers: [this.registry],
  })
  readonly items = new Counter({
    name: 'imgsync_items_total',
    help: 'Sync items by rule and status (synced, skipped, failed, interrupted, deleted).',
    labelNames: ['rule', 'status'] as const,
    registers: [this.registry],
  })
  readonly bytes = new Counter({
    name: 'imgsync_bytes_total',
    help: 'Blob bytes streamed from sources to targets.',
    labelNames: ['rule'] as const,
    registers: [this.registry],
  })
  readonly lastSuccess = new Gauge({
    name: 'imgsync_rule_last_success_timestamp_seconds',
    help: 'When a task of the rule last finished without failures.',
    labelNames: ['rule'] as const,
    registers: [this.registry],
  })
  readonly queueDepth = new Gauge({
    name: 'imgsync_queue_depth',
    help: 'Push events waiting to be synced.',
    registers: [this.registry],
  })
  readonly skippedTicks = new Counter({
    name: 'imgsync_schedule_skipped_total',
    help: 'Schedule ticks skipped because the rule still ran from the previous one.',
    labelNames: ['rule'] as const,
    registers: [this.registry],
  })
  readonly journalPending = new Gauge({
    name: 'imgsync_journal_pending',
    help: 'Push jobs accepted and not finished (kept in the journal across restarts).',
    registers: [this.registry],
  })
  readonly registryLastSuccess = new Gauge({
    name: 'imgsync_registry_last_success_timestamp_seconds',
    help: 'When a request to the registry last got an answer that was not a server error.',
    labelNames: ['registry'] as const,
    registers: [this.registry],
  })
  readonly events = new Counter({
    name: 'imgsync_webhook_events_total',
    help: 'Webhook events by source and outcome (queued, duplicate, ignored, unknown_host, filtered, rejected).',
    labelNames: ['source', 'result'] as const,
    registers: [this.registry],
  })
  readonly requests = new Gauge({
    name: 'imgsync_registry_requests',
    help: 'HTTP requests sent to each registry since start.',
    labelNames: ['registry'] as const,
    registers: [this.registry],
  })
  readonly rateLimited = new Gauge({
    name: 'imgsync_registry_rate_limited',
    help: 'HTTP 429 answers from each registry since start.',
    labelNames: ['registry'] as const,
    registers: [this.registry],
  })
  readonly retries = new Gauge({
    name: 'imgsync_registry_retries',
    help: 'Requests to each registry tried again since start.',
    labelNames: ['registry'] as const,
    registers: [this.registry],
  })
  readonly rateLimitWait = new Gauge({
    name: 'imgsync_registry_rate_limit_wait_seconds',
    help: 'Seconds requests to each registry spent waiting out its rate limits since start.',
    labelNames: ['registry'] as const,
    registers: [this.registry],
  })
  readonly resumed = new Counter({
    name: 'imgsync_resumed_bytes_total',
    help: 'Blob bytes not transferred again because a broken transfer continued where it stopped.',
    labelNames: ['rule'] as const,
    registers: [this.registry],
  })

  /** A listener for one task of `rule`. */
  listener(): TaskListener {
    return {
      itemDone: (item: ItemRecord) => {
        const rule = item.rule ?? ''
        this.items.inc({ rule, status: item.status })
        if (item.bytes > 0) this.bytes.inc({ rule }, item.bytes)
        if (item.resumedBytes) this.resumed.inc({ rule }, item.resumedBytes)
      },
      taskDone: (task: TaskRecord) => {
        const rule = task.rule ?? ''
        this.tasks.inc({ rule, trigger: task.trigger, status: task.status })
        if (task.status === 'succeeded') this.lastSuccess.set({ rule }, Date.now() / 1000)
      },
    }
  }

  /** Registry request counters, read from the transports when scraped. */
  setRegistryStats(stats: ({ registry: string } & RequestCounts)[]): void {
    // one registry may sit behind several clients (other credentials): sum them
    const sum = new Map<string, RequestCounts>()
    for (const { registry, lastOkAt, failingSince: _, ...s } of stats) {
      const t = sum.get(registry) ?? { requests: 0, retries: 0, rateLimited: 0, rateLimitWaitMs: 0 }
      for (const k of ['requests', 'retries', 'rateLimited', 'rateLimitWaitMs'] as const) t[k] += s[k]
      sum.set(registry, t)
      if (lastOkAt) this.registryLastSuccess.set({ registry }, lastOkAt / 1000)
    }
    for (const [registry, t] of sum) {
      this.requests.set({ registry }, t.requests)
      this.rateLimited.set({ registry }, t.rateLimited)
      this.retries.set({ registry }, t.retries)
      this.rateLimitWait.set({ registry }, t.rateLimitWaitMs / 1000)
    }
  }
}
