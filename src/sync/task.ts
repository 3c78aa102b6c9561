// What a task is (its definition), what it runs in (records, caches, signal), and what it reports.
import { randomBytes } from 'node:crypto'
import type { BlobLocations } from '../copy/blob-copier.js'
import type { TargetTags } from '../copy/tag-cache.js'
import type { MinRate } from '../copy/verify-stream.js'
import type { RecordWriter } from '../records/store.js'
import type { ItemRecord, TaskRecord, TriggerType } from '../records/types.js'
import type { ByteRate } from '../registry/byte-rate.js'
import type { ArtifactKind, Platform } from '../registry/media-types.js'
import type { RetryPolicy } from '../registry/retry-policy.js'
import type { Exclusion, Plan, PlanFeed } from './plan.js'

/** Progress reported as events, so the engine never depends on a UI or on metrics. */
export interface TaskListener {
  taskStarted?(task: TaskRecord): void
  planned?(plan: Plan): void
  itemDone?(item: ItemRecord): void
  bytes?(delta: number): void
  taskDone?(task: TaskRecord): void
}

/** What to sync: one CLI call or one rule trigger. */
export interface TaskDefinition {
  trigger: TriggerType
  rule?: string
  source: string
  target: string
  override: boolean
  dryRun: boolean
  concurrency: number
  types?: ArtifactKind[]
  /** copy referrers (signatures, SBOMs) with each image; default true */
  referrers?: boolean
  /** copy only these platforms of multi-platform images */
  platforms?: Platform[]
  shard?: string
  /**
   * resolves the items; an error here fails the whole task with its code. A planner that lists may
   * hand items to `feed` as it goes: they start copying before it is done.
   */
  plan: (feed?: PlanFeed) => Promise<Plan>
  /** how long in-flight items may finish after an abort (default 3 s) */
  graceMs?: number
  /** prune deletes at most this many tags per task, else fails with PRUNE_LIMIT (default 10) */
  maxDelete?: number
  /** a push job run again from serve's journal after a stop (noted on the task line) */
  replayed?: boolean
  /** write each skipped item (default); false: only the task line counts them (quiet schedules) */
  recordSkipped?: boolean
  /** the message of an interrupted task (default: run the same command again) */
  stopNote?: string
  /** counts schedule ticks skipped while this task runs; read when it finishes */
  overlap?: Overlap
}

/** Ticks of a rule's schedule that came while its run still ran. */
export interface Overlap {
  skippedTicks: number
}

/** What a task runs in: usually a RunContext (run-context.ts) and a listener. */
export interface TaskEnvironment {
  records: RecordWriter
  listener?: TaskListener
  /** aborting stops new items; items not finished within graceMs are recorded `interrupted` */
  signal?: AbortSignal
  /** default: in memory, for this task only */
  blobLocations?: BlobLocations
  /** target tag digests remembered across runs (default: none, every target tag is asked for) */
  targetTags?: TargetTags
  /** a blob moving slower than this fails with TIMEOUT (default: no floor) */
  blobMinRate?: MinRate
  /** the one retry policy (default: its defaults) */
  retry?: RetryPolicy
  /** process-wide blob bytes per second (--limit-rate) */
  rate?: ByteRate
}

export type TaskSpec = TaskDefinition & TaskEnvironment

export interface TaskResult {
  task: TaskRecord
  items: ItemRecord[]
  excluded: Exclusion[]
}

export function newTaskId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)
  return `t-${stamp}-${randomBytes(3).toString('hex')}`
}
