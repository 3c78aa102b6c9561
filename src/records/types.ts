// The record format: one JSON object per line. Field names are the same as in --json output,
// and are part of the contract (README "Records").

export type TriggerType = 'manual' | 'scheduled' | 'auto'
/** `abandoned` is never written: `records` shows it for a running task whose process is gone */
export type TaskStatus = 'running' | 'succeeded' | 'partial' | 'failed' | 'interrupted' | 'abandoned'
export type ItemStatus = 'synced' | 'skipped' | 'failed' | 'planned' | 'excluded' | 'interrupted' | 'deleted'

export interface BlobCounts {
  copied: number
  mounted: number
  skipped: number
}

export interface TaskRecord {
  type: 'task'
  taskId: string
  status: TaskStatus
  trigger: TriggerType
  rule?: string
  /** what was synced, as the user wrote it (registry/repo or registry/namespace) */
  source: string
  target: string
  dryRun: boolean
  startedAt: string
  durationMs: number
  repositories: number
  items: number
  synced: number
  skipped: number
  failed: number
  /** target tags deleted by prune */
  deleted?: number
  /** synced+skipped over items that ran, 0..1 (1 when there were none) */
  successRate: number
  bytes: number
  code?: string
  message?: string
  /** for sharded runs: "i/n" */
  shard?: string
  /** a push job serve ran again from its journal after a stop */
  replayed?: boolean
  /** schedule ticks that came while this run still ran (skipped: a rule never overlaps itself) */
  skippedTicks?: number
  /** the process and host that ran it, so `records` can tell a task whose process died */
  pid?: number
  host?: string
}

export interface ItemRecord {
  type: 'item'
  taskId: string
  rule?: string
  trigger: TriggerType
  source: string
  target: string
  repository: string
  tag: string
  /** what the target tag points at */
  digest?: string
  /** the source digest, when it differs (a platform subset of an index) */
  sourceDigest?: string
  mediaType?: string
  kind?: string
  /** signatures, SBOMs and attestations copied or already present with it */
  referrers?: number
  status: ItemStatus
  code?: string
  message?: string
  /** why skipped/excluded/planned */
  reason?: string
  bytes: number
  blobs: BlobCounts
  /** requests and transfers tried again (when there were any) */
  retries?: number
  /** time spent waiting for a registry's rate limit to pass (ms) */
  rateLimitWaitMs?: number
  /** bytes not transferred again because a broken transfer continued where it stopped */
  resumedBytes?: number
  startedAt: string
  durationMs: number
}

export type SyncRecord = TaskRecord | ItemRecord
