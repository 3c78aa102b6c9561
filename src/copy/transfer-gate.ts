// Where a blob transfer waits for its turn: a slot in the `blobs` lane of each registry it touches
// (source and target), taken in host order so two transfers never wait on each other's slots. A
// backend without lanes (an OCI layout) falls back to the task's own limit.
import type { LimitFunction } from 'p-limit'
import type { TransferSlots } from '../registry/api.js'
import type { BlobJob } from './blob-job.js'

/** Runs `fn` (one blob's transfer) once the transfer may start; BlobCopier calls it with the job. */
export type TransferGate = (fn: () => Promise<void>, job: BlobJob) => Promise<void>

/** The distinct lanes a transfer needs, in the order every transfer takes them. */
function lanesOf(job: BlobJob): TransferSlots[] {
  const lanes = new Set<TransferSlots>()
  for (const api of [job.src, job.dst]) if (api.transferSlots) lanes.add(api.transferSlots)
  return [...lanes].sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0))
}

/**
 * A gate over the registries' lanes; `fallback` bounds transfers between backends that have none
 * (with lanes on either side, the lanes alone decide, so a registry's `blobs` is what it says).
 */
export function transferGate(fallback: LimitFunction, signal?: AbortSignal): TransferGate {
  return async (fn, job) => {
    const lanes = lanesOf(job)
    if (lanes.length === 0) return fallback(fn)
    const held: (() => void)[] = []
    try {
      for (const lane of lanes) held.push(await lane.transfer(signal))
      return await fn()
    } finally {
      for (const free of held.reverse()) free()
    }
  }
}
