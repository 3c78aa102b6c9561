// Moving one blob's bytes from a source to a target: BlobRelay reads the source (continuing a
// download that broke off with a Range request), paces it under the bandwidth limits and hashes and
// counts it in place; the bytes go to the target in one upload, or in chunks (PATCH) that continue
// where a broken one stopped, the next chunk read while the last one goes up. Every byte reaching
// the target has passed the digest check first: the last piece is held back until the whole blob
// checks out.
import { ImgsyncError, toImgsyncError } from '../errors.js'
import type { BlobUpload, ChunkedUploads } from '../registry/api.js'
import type { ByteRate } from '../registry/byte-rate.js'
import { noteResumed, noteRetry } from '../registry/request-stats.js'
import { type RetryPolicy, StepBudget, type TransferTally } from '../registry/retry-policy.js'
import type { BlobJob } from './blob-job.js'
import { BlobRelay } from './blob-relay.js'
import type { MinRate } from './verify-stream.js'

/** Chunks at least this small, when a registry's body limit keeps refusing (413). */
export const MIN_CHUNK = 256 * 1024
/** The first chunk size after a registry refused a whole blob as too large (413). */
export const FALLBACK_CHUNK = 8 * 1024 * 1024

export interface TransferOptions {
  policy: RetryPolicy
  /** the blob's breaks in all (the hard cap); each step that continues has its own budget */
  transfer: TransferTally
  /** process-wide byte rate (--limit-rate) */
  rate?: ByteRate
  minRate?: MinRate
  signal?: AbortSignal
  /** bytes moved (negative: taken back after a failed attempt) */
  onBytes?: (n: number) => void
}

/** One upload of the whole blob (POST, PUT with the body). */
export async function uploadWhole(job: BlobJob, opts: TransferOptions, session?: string): Promise<void> {
  const relay = new BlobRelay(job, opts)
  let relayError: unknown
  relay.on('error', (err) => {
    relayError = err
  })
  try {
    await job.dst.putBlob(job.dstRepo, job.desc, relay, session)
  } catch (err) {
    // the source's own failure (coded) explains it; a raw error is just the upload being torn down
    throw relayError instanceof ImgsyncError ? relayError : err
  } finally {
    relay.destroy()
  }
  if (relayError) throw relayError
}

/**
 * The blob in chunks of `uploads.chunkSize`: each chunk is kept until the registry holds it, so a
 * chunk that breaks off is continued from what the registry says it holds (GET on the session),
 * sending at most the rest of that chunk again. A 413 halves the chunk size (down to 256 KiB) for
 * the rest of the run. A lost session fails the attempt (the blob starts over). The next chunk is
 * read while one goes up (two buffers of one chunk each, reused), so the download does not wait
 * for each PATCH.
 */
export async function uploadInChunks(
  job: BlobJob,
  uploads: ChunkedUploads,
  opts: TransferOptions,
  session?: string,
): Promise<void> {
  const upload = await uploads.begin(job.dstRepo, session)
  const relay = new BlobRelay(job, opts)
  // one budget for the session's continuations, filled again whenever the registry holds more
  const budget = new StepBudget(opts.transfer, upload.offset)
  let sending: Promise<void> = Promise.resolve()
  try {
    const send = (data: Buffer) => {
      sending = sendChunk(job, uploads, upload, data, opts, budget)
      // a chunk that cannot go up stops the download at once, not when the next chunk is full
      sending.catch((err: unknown) => relay.destroy(toImgsyncError(err)))
      return sending
    }
    await fillChunks(relay, job.desc.size, () => chunkSize(uploads, upload), send)
    // the stream ended: the whole blob checked out, and its last bytes went
    await uploads.commit(job.dstRepo, upload, job.desc.digest)
  } catch (err) {
    relay.destroy()
    await sending.catch(() => undefined)
    await uploads.cancel(job.dstRepo, upload)
    throw err
  }
}

/**
 * Copies the relay's bytes into a buffer of `size()` bytes (at most the blob's `total`); a full one
 * is handed to `send` once the one before is through, and the other buffer fills meanwhile. The
 * last, partial one goes after the relay ended (its digest checked).
 */
async function fillChunks(
  relay: BlobRelay,
  total: number,
  size: () => number,
  send: (data: Buffer) => Promise<void>,
): Promise<void> {
  const buffers: Buffer[] = []
  let current = 0
  let filled = 0
  let target = size()
  let previous: Promise<void> = Promise.resolve()
  const buffer = (): Buffer => {
    const need = Math.min(target, total)
    const have = buffers[current]
    if (have && have.length >= need) return have
    const made = Buffer.allocUnsafeSlow(need)
    buffers[current] = made
    return made
  }
  for await (const chunk of relay) {
    const piece = chunk as Buffer
    for (let at = 0; at < piece.length; ) {
      const n = Math.min(piece.length - at, target - filled)
      piece.copy(buffer(), filled, at, at + n)
      filled += n
      at += n
      if (filled < target) continue
      await previous
      previous = send(buffer().subarray(0, filled))
      current ^= 1
      filled = 0
      target = size()
    }
  }
  await previous
  if (filled > 0) await send(buffer().subarray(0, filled))
}

function chunkSize(uploads: ChunkedUploads, upload: BlobUpload): number {
  return Math.max(uploads.chunkSize ?? FALLBACK_CHUNK, upload.minChunk ?? 0)
}

/** Sends one chunk; continues it from what the registry holds after a failure, in smaller pieces after a 413. */
async function sendChunk(
  job: BlobJob,
  uploads: ChunkedUploads,
  upload: BlobUpload,
  data: Buffer,
  opts: TransferOptions,
  budget: StepBudget,
): Promise<void> {
  const start = upload.offset
  while (upload.offset < start + data.length) {
    const size = chunkSize(uploads, upload)
    const piece = data.subarray(upload.offset - start, upload.offset - start + size)
    try {
      await uploads.append(job.dstRepo, upload, [piece])
    } catch (raw) {
      const e = toImgsyncError(raw)
      if (e.status === 413 && size > MIN_CHUNK) {
        uploads.chunkSize = Math.max(MIN_CHUNK, Math.floor(size / 2))
        continue
      }
      if (!e.temporary || e.retriesSpent) throw e
      await opts.policy.backoff(e, budget.at(upload.offset), opts.signal)
      noteRetry()
      await resumeAt(job, uploads, upload, start)
    }
  }
}

/** Where a session stands after a broken chunk; anything but a place inside this chunk is a lost session. */
async function resumeAt(job: BlobJob, uploads: ChunkedUploads, upload: BlobUpload, chunkStart: number) {
  const held = await uploads.status(job.dstRepo, upload)
  if (held === undefined || held < chunkStart || held > job.desc.size) {
    throw new ImgsyncError(
      'REGISTRY_ERROR',
      `${job.dst.name}: the upload session of ${job.desc.digest.slice(0, 19)}… is gone`,
      {
        temporary: true,
        suggestions: ['the blob is uploaded again from the start'],
      },
    )
  }
  upload.offset = held
  noteResumed(held)
}
