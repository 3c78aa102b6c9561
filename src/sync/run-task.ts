import { randomBytes } from 'node:crypto'
import pLimit from 'p-limit'
import { BlobCopier, type BlobLocations, MemoryBlobLocations } from '../copy/blob-copier.js'
import { copyImage } from '../copy/copy-image.js'
import { ReferrerFinder } from '../copy/referrers.js'
import type { TargetTags } from '../copy/tag-cache.js'
import type { MinRate } from '../copy/verify-stream.js'
import { type ImgsyncError, toImgsyncError } from '../errors.js'
import type { RecordWriter } from '../records/store.js'
import type { ItemRecord, TaskRecord, TaskStatus, TriggerType } from '../records/types.js'
import type { RegistryApi } from '../registry/api.js'
import type { ArtifactKind, Platform } from '../registry/media-types.js'
import type { Exclusion, ItemPlan, Plan } from './plan.js'
import { findStaleTags, type PruneCandidate, type PruneScope, pruneLimitError } from './prune.js'

/** Progress reported as events, so the engine never depends on a UI or on metrics. */
export interface TaskListener {
  taskStarted?(task: TaskRecord): void
  planned?(plan: Plan): void
  itemDone?(item: ItemRecord): void
  bytes?(delta: number): void
  taskDone?(task: TaskRecord): void
}

export interface TaskSpec {
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
  /** resolves the items; an error here fails the whole task with its code */
  plan: () => Promise<Plan>
  records: RecordWriter
  listener?: TaskListener
  /** aborting stops new items; items not finished within graceMs are recorded `interrupted` */
  signal?: AbortSignal
  /** how long in-flight items may finish after an abort (default 3 s) */
  graceMs?: number
  /** prune deletes at most this many tags per task, else fails with PRUNE_LIMIT (default 10) */
  maxDelete?: number
  blobLocations?: BlobLocations
  /** target tag digests remembered across runs (default: none, every target tag is asked for) */
  targetTags?: TargetTags
  /** a blob moving slower than this fails with TIMEOUT (default: no floor) */
  blobMinRate?: MinRate
}

export interface TaskResult {
  task: TaskRecord
  items: ItemRecord[]
  excluded: Exclusion[]
}

export type { Exclusion, ItemPlan, Plan }

export function newTaskId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)
  return `t-${stamp}-${randomBytes(3).toString('hex')}`
}

function finalStatus(t: TaskRecord, interrupted: boolean): TaskStatus {
  if (interrupted) return 'interrupted'
  if (t.failed === 0) return 'succeeded'
  return t.synced + t.skipped > 0 ? 'partial' : 'failed'
}

/** Runs one task: plan, copy every item with bounded concurrency, write records as it goes. */
export async function runTask(spec: TaskSpec): Promise<TaskResult> {
  const started = Date.now()
  const task: TaskRecord = {
    type: 'task',
    taskId: newTaskId(new Date(started)),
    status: 'running',
    trigger: spec.trigger,
    ...(spec.rule !== undefined && { rule: spec.rule }),
    source: spec.source,
    target: spec.target,
    dryRun: spec.dryRun,
    startedAt: new Date(started).toISOString(),
    durationMs: 0,
    repositories: 0,
    items: 0,
    synced: 0,
    skipped: 0,
    failed: 0,
    successRate: 1,
    bytes: 0,
    ...(spec.shard !== undefined && { shard: spec.shard }),
  }
  spec.records.append(task)
  spec.listener?.taskStarted?.(task)
  const items: ItemRecord[] = []
  let excluded: Exclusion[] = []

  const finish = (error?: ImgsyncError): TaskResult => {
    const interrupted = spec.signal?.aborted ?? false
    const ran = task.synced + task.skipped + task.failed
    task.successRate = ran === 0 ? 1 : Math.round(((task.synced + task.skipped) / ran) * 10_000) / 10_000
    task.status = error ? 'failed' : finalStatus(task, interrupted)
    if (error) {
      task.code = error.code
      task.message = withHint(error)
    } else if (interrupted) {
      task.code = 'INTERRUPTED'
      task.message = 'stopped by a signal; run the same command again to finish'
    }
    task.durationMs = Date.now() - started
    spec.blobLocations?.flush?.()
    spec.targetTags?.flush?.()
    spec.records.append(task)
    spec.listener?.taskDone?.(task)
    return { task, items, excluded }
  }

  // once the task is finished (interrupted), late results of cut-off items are dropped
  let done = false
  const recorded = new Set<ItemPlan>()
  const record = (item: ItemRecord) => {
    if (done) return
    items.push(item)
    if (item.status === 'synced') task.synced++
    else if (item.status === 'skipped') task.skipped++
    else if (item.status === 'failed') task.failed++
    task.bytes += item.bytes
    spec.records.append(item)
    spec.listener?.itemDone?.(item)
  }

  let plan: Plan
  try {
    plan = await spec.plan()
  } catch (err) {
    // stopped while listing: the task is interrupted, not failed
    if (spec.signal?.aborted) return finish()
    // registry failures arrive as ImgsyncErrors; anything else is a bug in the planner
    return finish(toImgsyncError(err, 'INTERNAL'))
  }
  excluded = plan.excluded
  task.repositories = plan.repositories
  task.items = plan.items.length + (plan.failures?.length ?? 0)
  spec.listener?.planned?.(plan)
  for (const u of plan.failures ?? []) {
    record({
      type: 'item',
      taskId: task.taskId,
      ...(spec.rule !== undefined && { rule: spec.rule }),
      trigger: spec.trigger,
      source: u.source,
      target: u.target,
      repository: u.repository,
      tag: u.tag,
      status: 'failed',
      code: u.error.code,
      message: withHint(u.error),
      bytes: 0,
      blobs: zeroBlobs(),
      startedAt: new Date().toISOString(),
      durationMs: 0,
    })
  }

  const limit = pLimit(Math.max(1, spec.concurrency))
  const referrers = new ReferrerFinder()
  for (const l of plan.listed ?? []) referrers.seed(l.api, l.repo, l.tags)
  // one tag list of a target repository replaces a HEAD per tag only where the task has several
  const targetKey = (dst: RegistryApi, repo: string) => `${dst.name}\n${repo}`
  const perTarget = new Map<string, number>()
  for (const p of plan.items)
    perTarget.set(targetKey(p.dst, p.dstRepo), (perTarget.get(targetKey(p.dst, p.dstRepo)) ?? 0) + 1)
  const listTargetTags = (dst: RegistryApi, repo: string) => (perTarget.get(targetKey(dst, repo)) ?? 0) > 1
  const blobs = new BlobCopier(
    pLimit(Math.max(1, spec.concurrency)),
    spec.blobLocations ?? new MemoryBlobLocations(),
    (n) => spec.listener?.bytes?.(n),
    spec.blobMinRate,
  )

  const itemBase = (p: ItemPlan, t0: number) => ({
    type: 'item' as const,
    taskId: task.taskId,
    ...(spec.rule !== undefined && { rule: spec.rule }),
    trigger: spec.trigger,
    source: p.source,
    target: p.target,
    repository: p.srcRepo,
    tag: p.tag,
    startedAt: new Date(t0).toISOString(),
  })

  const runItem = async (p: ItemPlan): Promise<ItemRecord> => {
    const t0 = Date.now()
    const base = itemBase(p, t0)
    if (spec.signal?.aborted) {
      return {
        ...base,
        status: 'interrupted',
        code: 'INTERRUPTED',
        bytes: 0,
        blobs: zeroBlobs(),
        durationMs: 0,
      }
    }
    try {
      const out = await copyImage(
        {
          src: p.src,
          srcRepo: p.srcRepo,
          srcRef: p.srcRef,
          dst: p.dst,
          dstRepo: p.dstRepo,
          dstTag: p.dstTag,
          override: spec.override,
          dryRun: spec.dryRun,
          types: spec.types,
          referrers: spec.referrers ?? true,
          platforms: spec.platforms,
        },
        { blobs, referrers, targetTags: spec.targetTags, listTargetTags },
      )
      return {
        ...base,
        digest: out.digest,
        mediaType: out.mediaType,
        ...(out.kind !== undefined && { kind: out.kind }),
        status: out.status,
        ...(out.reason !== undefined && { reason: out.reason }),
        ...(out.sourceDigest !== undefined && { sourceDigest: out.sourceDigest }),
        ...(out.referrers > 0 && { referrers: out.referrers }),
        bytes: out.blobs.bytes,
        blobs: { copied: out.blobs.copied, mounted: out.blobs.mounted, skipped: out.blobs.skipped },
        durationMs: Date.now() - t0,
      }
    } catch (raw) {
      const err = toImgsyncError(raw)
      const interrupted = spec.signal?.aborted ?? false
      return {
        ...base,
        status: interrupted ? 'interrupted' : 'failed',
        code: interrupted ? 'INTERRUPTED' : err.code,
        message: withHint(err),
        bytes: 0,
        blobs: zeroBlobs(),
        durationMs: Date.now() - t0,
      }
    }
  }
  const recordPlanned = (p: ItemPlan, item: ItemRecord) => {
    if (recorded.has(p)) return
    recorded.add(p)
    record(item)
  }

  /** Deletes stale target tags (or shows them, in a dry run); an error fails the task. */
  const prune = async (scopes: PruneScope[]): Promise<ImgsyncError | undefined> => {
    let candidates: PruneCandidate[]
    try {
      candidates = await findStaleTags(scopes)
    } catch (err) {
      return toImgsyncError(err)
    }
    const doomed = candidates.filter((c) => !c.keep)
    const max = spec.maxDelete ?? DEFAULT_MAX_DELETE
    if (!spec.dryRun && doomed.length > max) return pruneLimitError(doomed.length, max)
    for (const c of candidates) {
      const t0 = Date.now()
      const base = {
        type: 'item' as const,
        taskId: task.taskId,
        ...(spec.rule !== undefined && { rule: spec.rule }),
        trigger: spec.trigger,
        source: '-',
        target: `${c.scope.target}:${c.tag}`,
        repository: c.scope.dstRepo,
        tag: c.tag,
        ...(c.digest !== undefined && { digest: c.digest }),
        bytes: 0,
        blobs: zeroBlobs(),
        startedAt: new Date(t0).toISOString(),
      }
      if (c.keep || spec.dryRun) {
        record({
          ...base,
          status: c.keep ? 'excluded' : 'planned',
          reason: c.keep ?? 'would delete: not at the source',
          durationMs: 0,
        })
        continue
      }
      try {
        await c.scope.dst.deleteManifest(c.scope.dstRepo, c.digest!)
        task.deleted = (task.deleted ?? 0) + 1
        record({ ...base, status: 'deleted', reason: 'not at the source', durationMs: Date.now() - t0 })
      } catch (raw) {
        const err = toImgsyncError(raw)
        record({
          ...base,
          status: 'failed',
          code: err.code,
          message: withHint(err),
          durationMs: Date.now() - t0,
        })
      }
    }
    return undefined
  }

  const all = Promise.all(plan.items.map((p) => limit(async () => recordPlanned(p, await runItem(p)))))
  await Promise.race([all, interruption(spec.signal, spec.graceMs ?? DEFAULT_GRACE_MS)])
  if (spec.signal?.aborted) {
    // what is still in flight after the grace period is cut off: its tag was never pushed
    for (const p of plan.items) {
      recordPlanned(p, {
        ...itemBase(p, Date.now()),
        status: 'interrupted',
        code: 'INTERRUPTED',
        bytes: 0,
        blobs: zeroBlobs(),
        durationMs: 0,
      })
    }
  }
  if (plan.prune && plan.prune.length > 0 && !spec.signal?.aborted) {
    const error = await prune(plan.prune)
    if (error) {
      done = true
      return finish(error)
    }
  }
  done = true
  return finish()
}

const DEFAULT_GRACE_MS = 3000
const DEFAULT_MAX_DELETE = 10

/** Resolves `graceMs` after the signal aborts (never, without a signal). */
function interruption(signal: AbortSignal | undefined, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (!signal) return
    const later = () => setTimeout(resolve, graceMs).unref()
    if (signal.aborted) later()
    else signal.addEventListener('abort', later, { once: true })
  })
}

function zeroBlobs() {
  return { copied: 0, mounted: 0, skipped: 0 }
}

/** A record's message says what to do next, so the hint travels with it. */
function withHint(err: ImgsyncError): string {
  return err.suggestions.length > 0 ? `${err.message} (${err.suggestions.join('; ')})` : err.message
}
