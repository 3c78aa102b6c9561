// The copy step of a task: every planned item through the copy engine with bounded concurrency,
// one record each, and on an interrupt a grace period after which what still runs is cut off.
import pLimit from 'p-limit'
import { BlobCopier, MemoryBlobLocations } from '../copy/blob-copier.js'
import { type CopyDeps, copyImage } from '../copy/copy-image.js'
import { ReferrerFinder } from '../copy/referrers.js'
import { transferGate } from '../copy/transfer-gate.js'
import { toImgsyncError } from '../errors.js'
import type { ItemRecord } from '../records/types.js'
import type { RegistryApi } from '../registry/api.js'
import { emptyRequestStats, withRequestStats } from '../registry/request-stats.js'
import type { ItemPlan, Plan } from './plan.js'
import type { TaskSpec } from './task.js'
import type { TaskRecords } from './task-records.js'

const DEFAULT_GRACE_MS = 3000

function place(p: ItemPlan) {
  return { source: p.source, target: p.target, repository: p.srcRepo, tag: p.tag }
}

/** What the copy engine shares across the items of one task: caches, in-flight transfers, limits. */
function copyDeps(spec: TaskSpec, plan: Plan): CopyDeps {
  const referrers = new ReferrerFinder()
  for (const l of plan.listed ?? []) referrers.seed(l.api, l.repo, l.tags)
  // one tag list of a target repository replaces a HEAD per tag only where the task has several
  const targetKey = (dst: RegistryApi, repo: string) => `${dst.name}\n${repo}`
  const perTarget = new Map<string, number>()
  for (const p of plan.items) {
    const k = targetKey(p.dst, p.dstRepo)
    perTarget.set(k, (perTarget.get(k) ?? 0) + 1)
  }
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
    referrers,
    targetTags: spec.targetTags,
    listTargetTags: (dst, repo) => (perTarget.get(targetKey(dst, repo)) ?? 0) > 1,
    copied: new Map(),
  }
}

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

/** Copies every item of the plan; returns when all are recorded (or cut off after an interrupt). */
export async function copyItems(plan: Plan, spec: TaskSpec, run: TaskRecords): Promise<void> {
  const deps = copyDeps(spec, plan)
  const limit = pLimit(Math.max(1, spec.concurrency))
  const recorded = new Set<ItemPlan>()
  const recordOnce = (p: ItemPlan, item: ItemRecord) => {
    if (recorded.has(p)) return
    recorded.add(p)
    run.record(item)
  }
  const all = Promise.all(
    plan.items.map((p) => limit(async () => recordOnce(p, await copyItem(p, spec, deps, run)))),
  )
  const grace = afterAbort(spec.signal, spec.graceMs ?? DEFAULT_GRACE_MS)
  try {
    await Promise.race([all, grace.elapsed])
  } finally {
    grace.dispose()
  }
  if (spec.signal?.aborted) {
    // what is still in flight after the grace period is cut off: its tag was never pushed
    for (const p of plan.items) recordOnce(p, run.item(place(p), { status: 'interrupted' }))
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
