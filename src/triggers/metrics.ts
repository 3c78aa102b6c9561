import { Counter, Gauge, Registry } from 'prom-client'
import type { ItemRecord, TaskRecord } from '../records/types.js'
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

  /** A listener for one task of `rule`. */
  listener(): TaskListener {
    return {
      itemDone: (item: ItemRecord) => {
        const rule = item.rule ?? ''
        this.items.inc({ rule, status: item.status })
        if (item.bytes > 0) this.bytes.inc({ rule }, item.bytes)
      },
      taskDone: (task: TaskRecord) => {
        const rule = task.rule ?? ''
        this.tasks.inc({ rule, trigger: task.trigger, status: task.status })
        if (task.status === 'succeeded') this.lastSuccess.set({ rule }, Date.now() / 1000)
      },
    }
  }

  /** Registry request counters, read from the transports when scraped. */
  setRegistryStats(stats: { registry: string; requests: number; rateLimited: number }[]): void {
    // one registry may sit behind several clients (other credentials): sum them
    const sum = new Map<string, { requests: number; rateLimited: number }>()
    for (const s of stats) {
      const t = sum.get(s.registry) ?? { requests: 0, rateLimited: 0 }
      t.requests += s.requests
      t.rateLimited += s.rateLimited
      sum.set(s.registry, t)
    }
    for (const [registry, t] of sum) {
      this.requests.set({ registry }, t.requests)
      this.rateLimited.set({ registry }, t.rateLimited)
    }
  }
}
