// The copy step of a task: every planned item through the copy engine with bounded concurrency,
// started as soon as the planner hands it over, one record each, and on an interrupt a grace
// period after which what still runs is cut off.
import pLimit, { type LimitFunction } from 'p-limit'
import { BlobCopier, MemoryBlobLocations } from '../copy/blob-copier.js'
import { type CopyDeps, copyImage } from '../copy/copy-image.js'
import { ReferrerFinder } from '../copy/referrers.js'
import { transferGate } from '../copy/transfer-gate.js'
import { toImgsyncError } from '../errors.js'
import type { ItemRecord } from '../records/types.js'
import type { RegistryApi } from '../registry/api.js'
import { emptyRequestStats, withRequestStats } from '../registry/request-stats.js'
import type { ItemPlan, PlanBatch } from './plan.js'
import type { TaskSpec } from './task.js'
import type { TaskRecords } from './task-records.js'

const DEFAULT_GRACE_MS = 3000

function place(p: ItemPlan) {
  return { source: p.source, target: p.target, repository: p.srcRepo, tag: p.tag }
}

/** What the copy engine shares across the items of one task: caches, in-flight transfers, limits. */
function copyDeps(spec: TaskSpec, perTarget: Map<string, number>): CopyDeps {
  return {
    blobs: new BlobCopier(
      // each registry's `blobs` lane; --concurrency for backends without one (OCI layouts)
      transferGate(pLimit(Math.max(1, spec.concurrency)), spec.signal),
      spec.blobLocations ?? new MemoryBlobLocations(),
      {
        onBytes: (n) => spec.listener?.bytes?.(n),
        minRate: spec.blobMinRate,
        policy: spec.retry,
        rate: spec.rate,
        signal: spec.signal,
      },
    ),
    referrers: new ReferrerFinder(),
    targetTags: spec.targetTags,
    imageSlots: pLimit(Math.max(1, spec.concurrency)),
    // one tag list of a target repository replaces a HEAD per tag only where the task has several
    listTargetTags: (dst, repo) => (perTarget.get(targetKey(dst, repo)) ?? 0) > 1,
    copied: new Map(),
  }
}

const targetKey = (dst: RegistryApi, repo: string) => `${dst.name}\n${repo}`

async function copyItem(p: ItemPlan, spec: TaskSpec, deps: CopyDeps, run: TaskRecords): Promise<ItemRecord> {
  const t0 = Date.now()
  if (spec.signal?.aborted) return run.item(place(p), { status: 'interrupted' }, t0)
  // what retries, rate-limit waits and resumed transfers cost this item, wherever they happen
  const cost = emptyRequestStats()
  try {
    const out = await withRequestStats(cost, () =>
      copyImage(
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
        deps,
      ),
    )
    return run.item(place(p), { ...out, bytes: out.blobs.bytes, cost }, t0)
  } catch (raw) {
    const error = toImgsyncError(raw)
    return run.item(place(p), { status: spec.signal?.aborted ? 'interrupted' : 'failed', error, cost }, t0)
  }
}

/** Tags checked at once where both registries bound their own requests (their `requests` lanes). */
const CHECKS_IN_FLIGHT = 256

/**
 * Items in flight: checking a tag costs a request or two, which the registries' requests lanes
 * bound, so many are checked at once and only copies wait for one of the --concurrency image
 * slots; a backend without lanes (an OCI layout) is checked --concurrency items at a time.
 */
function checksInFlight(p: ItemPlan, concurrency: number): number {
  const lanes = p.src.transferSlots !== undefined && p.dst.transferSlots !== undefined
  return Math.max(1, lanes ? Math.max(concurrency, CHECKS_IN_FLIGHT) : concurrency)
}

/**
 * The copy step of a task: items start as the planner hands them over (add), many checked at
 * once and --concurrency copied at once, and settle() returns when every started item is recorded
 * (or cut off after an interrupt).
 */
export class CopyStep {
  private readonly perTarget = new Map<string, number>()
  private readonly deps: CopyDeps
  private limit: LimitFunction | undefined
  private readonly started = new Set<ItemPlan>()
  private readonly recorded = new Set<ItemPlan>()
  private readonly running: Promise<void>[] = []

  constructor(
    private readonly spec: TaskSpec,
    private readonly run: TaskRecords,
  ) {
    this.deps = copyDeps(spec, this.perTarget)
  }

  /** Starts the batch's items that have not started yet (a plan's items may have been fed before). */
  add(batch: PlanBatch): void {
    for (const l of batch.listed ?? []) this.deps.referrers.seed(l.api, l.repo, l.tags)
    const fresh = batch.items.filter((p) => !this.started.has(p))
    // counted before any starts: each item knows how many go into its target repository
    for (const p of fresh) {
      const k = targetKey(p.dst, p.dstRepo)
      this.perTarget.set(k, (this.perTarget.get(k) ?? 0) + 1)
    }
    // the target tag lists items wait for (where several go into one repository): asked now
    for (const p of fresh) {
      if (p.dstTag && this.deps.listTargetTags?.(p.dst, p.dstRepo))
        void this.deps.referrers.listedTags(p.dst, p.dstRepo)
    }
    for (const p of fresh) {
      this.started.add(p)
      const copy = async () => this.recordOnce(p, await copyItem(p, this.spec, this.deps, this.run))
      this.limit ??= pLimit(checksInFlight(p, this.spec.concurrency))
      this.running.push(this.limit(copy))
    }
  }

  /** Waits for every started item; after an interrupt, what still runs past the grace period is cut off. */
  async settle(): Promise<void> {
    const grace = afterAbort(this.spec.signal, this.spec.graceMs ?? DEFAULT_GRACE_MS)
    try {
      // items may still be added while waiting (the planner's last batches): wait for those too
      for (let n = 0; n < this.running.length; ) {
        n = this.running.length
        await Promise.race([Promise.all(this.running), grace.elapsed])
        if (this.spec.signal?.aborted) break
      }
    } finally {
      grace.dispose()
    }
    if (this.spec.signal?.aborted) {
      // what is still in flight after the grace period is cut off: its tag was never pushed
      for (const p of this.started) this.recordOnce(p, this.run.item(place(p), { status: 'interrupted' }))
    }
  }

  private recordOnce(p: ItemPlan, item: ItemRecord): void {
    if (this.recorded.has(p)) return
    this.recorded.add(p)
    this.run.record(item)
  }
}

/** Resolves `graceMs` after the signal aborts (never, without a signal); dispose() drops the listener. */
function afterAbort(signal: AbortSignal | undefined, graceMs: number) {
  let timer: NodeJS.Timeout | undefined
  let onAbort = () => {}
  const elapsed = new Promise<void>((resolve) => {
    onAbort = () => {
      timer = setTimeout(resolve, graceMs).unref()
    }
    if (signal?.aborted) onAbort()
    else signal?.addEventListener('abort', onAbort, { once: true })
  })
  return {
    elapsed,
    dispose() {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    },
  }
}
