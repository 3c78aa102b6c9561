// The records of one task: its task line (written when it starts and when it ends) and one item
// line per item, all built here, so every item record has the same shape whatever produced it.
import type { ImgsyncError } from '../errors.js'
import { runner } from '../records/liveness.js'
import type { BlobCounts, ItemRecord, ItemStatus, TaskRecord, TaskStatus } from '../records/types.js'
import type { RequestStats } from '../registry/request-stats.js'
import type { Exclusion } from './plan.js'
import { newTaskId, type TaskResult, type TaskSpec } from './task.js'

/** Where an item is: the same four fields in every item record. */
export interface ItemPlace {
  source: string
  target: string
  repository: string
  tag: string
}

/** What became of an item, beyond its status. */
export interface ItemOutcome {
  status: ItemStatus
  error?: ImgsyncError
  digest?: string
  sourceDigest?: string
  mediaType?: string
  kind?: string
  reason?: string
  referrers?: number
  bytes?: number
  blobs?: BlobCounts
  /** what retries, rate-limit waits and resumed transfers cost the item */
  cost?: RequestStats
}

/** A record's message says what to do next, so the hint travels with it. */
export function withHint(err: ImgsyncError): string {
  return err.suggestions.length > 0 ? `${err.message} (${err.suggestions.join('; ')})` : err.message
}

function finalStatus(t: TaskRecord, interrupted: boolean): TaskStatus {
  if (interrupted) return 'interrupted'
  if (t.failed === 0) return 'succeeded'
  return t.synced + t.skipped > 0 ? 'partial' : 'failed'
}

/**
 * The task's records as it runs: the task line, its counters, and the items in the order they end.
 * Once finished, late results of items cut off by an interrupt are dropped.
 */
export class TaskRecords {
  readonly task: TaskRecord
  readonly items: ItemRecord[] = []
  excluded: Exclusion[] = []
  /** set once the plan is known; a task stopped before that did not finish */
  planned = false
  /** prune was due but the task was stopped first */
  pruneLeft = false
  private readonly started = Date.now()
  private finished = false

  constructor(private readonly spec: TaskSpec) {
    this.task = {
      type: 'task',
      taskId: newTaskId(new Date(this.started)),
      status: 'running',
      trigger: spec.trigger,
      ...(spec.rule !== undefined && { rule: spec.rule }),
      source: spec.source,
      target: spec.target,
      dryRun: spec.dryRun,
      startedAt: new Date(this.started).toISOString(),
      durationMs: 0,
      repositories: 0,
      items: 0,
      synced: 0,
      skipped: 0,
      failed: 0,
      successRate: 1,
      bytes: 0,
      ...(spec.shard !== undefined && { shard: spec.shard }),
      ...(spec.replayed && { replayed: true }),
      ...runner(),
    }
    spec.records.append(this.task)
    spec.listener?.taskStarted?.(this.task)
  }

  /** The one item-record builder. `startedAt`: when the item began (default now, for zero-time items). */
  item(place: ItemPlace, outcome: ItemOutcome, startedAt = Date.now()): ItemRecord {
    const { error } = outcome
    const blobs = outcome.blobs ?? { copied: 0, mounted: 0, skipped: 0 }
    return {
      type: 'item',
      taskId: this.task.taskId,
      ...(this.spec.rule !== undefined && { rule: this.spec.rule }),
      trigger: this.spec.trigger,
      source: place.source,
      target: place.target,
      repository: place.repository,
      tag: place.tag,
      ...(outcome.digest !== undefined && { digest: outcome.digest }),
      ...(outcome.mediaType !== undefined && { mediaType: outcome.mediaType }),
      ...(outcome.kind !== undefined && { kind: outcome.kind }),
      status: outcome.status,
      ...(outcome.reason !== undefined && { reason: outcome.reason }),
      ...(outcome.sourceDigest !== undefined && { sourceDigest: outcome.sourceDigest }),
      ...(outcome.referrers !== undefined && outcome.referrers > 0 && { referrers: outcome.referrers }),
      ...(outcome.status === 'interrupted' && { code: 'INTERRUPTED' }),
      ...(error && outcome.status === 'failed' && { code: error.code }),
      ...(error && { message: withHint(error) }),
      bytes: outcome.bytes ?? 0,
      blobs: { copied: blobs.copied, mounted: blobs.mounted, skipped: blobs.skipped },
      ...(outcome.cost?.retries && { retries: outcome.cost.retries }),
      ...(outcome.cost?.rateLimitWaitMs && { rateLimitWaitMs: outcome.cost.rateLimitWaitMs }),
      ...(outcome.cost?.resumedBytes && { resumedBytes: outcome.cost.resumedBytes }),
      startedAt: new Date(startedAt).toISOString(),
      durationMs: outcome.status === 'interrupted' && !error ? 0 : Date.now() - startedAt,
    }
  }

  /** Counts and writes an item line (nothing once the task is finished). */
  record(item: ItemRecord): void {
    if (this.finished) return
    const { task } = this
    this.items.push(item)
    if (item.status === 'synced') task.synced++
    else if (item.status === 'skipped') task.skipped++
    else if (item.status === 'failed') task.failed++
    task.bytes += item.bytes
    // a quiet schedule keeps the records small: a skipped item is only counted on the task line
    if (item.status !== 'skipped' || this.spec.recordSkipped !== false) this.spec.records.append(item)
    this.spec.listener?.itemDone?.(item)
  }

  /** Whether every planned item ended (synced, skipped or failed) and nothing was left undone. */
  private complete(ran: number): boolean {
    return this.planned && !this.pruneLeft && ran >= this.task.items
  }

  /**
   * Writes the final task line; `error` fails the whole task with its code. After a stop signal the
   * task is `interrupted` only when something was left undone (an item cut off, planning or prune
   * not done); when every item finished within the grace period it ends as it would have, saying
   * the stop came too late to matter. A task in which nothing ran is no 100%.
   */
  finish(error?: ImgsyncError): TaskResult {
    this.finished = true
    const { task, spec } = this
    const ran = task.synced + task.skipped + task.failed
    const signalled = spec.signal?.aborted ?? false
    const interrupted = signalled && !this.complete(ran)
    task.status = error ? 'failed' : finalStatus(task, interrupted)
    task.successRate = successRate(task)
    if (error) {
      task.code = error.code
      task.message = withHint(error)
    } else if (interrupted) {
      task.code = 'INTERRUPTED'
      task.message = spec.stopNote ?? 'stopped by a signal; run the same command again to finish'
    } else if (signalled) {
      task.message = 'a stop signal came, but every item had finished'
    }
    task.durationMs = Date.now() - this.started
    if (spec.overlap && spec.overlap.skippedTicks > 0) task.skippedTicks = spec.overlap.skippedTicks
    spec.blobLocations?.flush?.()
    spec.targetTags?.flush?.()
    spec.records.append(task)
    spec.listener?.taskDone?.(task)
    return { task, items: this.items, excluded: this.excluded }
  }
}

/**
 * Synced and skipped items of those that ended, to 4 decimals. A task in which nothing ran is no
 * 100%, unless it succeeded (an empty selection).
 */
export function successRate(task: TaskRecord): number {
  const ran = task.synced + task.skipped + task.failed
  if (ran === 0) return task.status === 'succeeded' ? 1 : 0
  return Math.round(((task.synced + task.skipped) / ran) * 10_000) / 10_000
}
