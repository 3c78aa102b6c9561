// Moving one blob's bytes from a source to a target: read from the source, continuing a download
// that broke off with a Range request; pace it under the bandwidth limits; hash and count it on the
// way (VerifyStream); and write it to the target in one upload, or in chunks (PATCH) that continue
// where a broken one stopped. Every byte reaching the target has passed the digest check first:
// the last piece is held back until the whole blob checks out.
import { Readable } from 'node:stream'
import { ImgsyncError, toImgsyncError } from '../errors.js'
import { log } from '../log.js'
import type { BlobUpload, ChunkedUploads } from '../registry/api.js'
import { type ByteRate, RateLimited } from '../registry/byte-rate.js'
import { noteResumed, noteRetry } from '../registry/request-stats.js'
import { type RetryPolicy, StepBudget, type TransferTally } from '../registry/retry-policy.js'
import type { BlobJob } from './blob-job.js'
import { type MinRate, VerifyStream } from './verify-stream.js'

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

/**
 * The source blob's bytes, as a stream; a download that breaks off (reset, idle) after bytes
 * arrived is continued from where it stopped, after the same backoff as any retry, on a budget
 * filled again by that progress (StepBudget). A break before any byte arrived made no progress:
 * it fails the attempt, and the blob starts over on its budget for starting over.
 */
export async function* sourceBytes(job: BlobJob, opts: TransferOptions): AsyncGenerator<Buffer> {
  let offset = 0
  const budget = new StepBudget(opts.transfer)
  for (;;) {
    const from = offset
    try {
      for await (const chunk of await job.src.getBlob(job.srcRepo, job.desc, offset)) {
        offset += chunk.length
        yield chunk as Buffer
      }
      return
    } catch (raw) {
      const e = toImgsyncError(raw)
      // a request that failed has spent its own retries already; one whose body broke before its
      // first byte made no progress: the attempt fails (not spent), and the blob starts over
      if (!e.temporary || e.retriesSpent || offset === from || offset >= job.desc.size) throw e
      await opts.policy.backoff(e, budget.at(offset), opts.signal)
      noteRetry()
      log.debug(
        `${job.src.name}: ${job.desc.digest.slice(0, 19)}… continues from byte ${offset}: ${e.message}`,
      )
    }
  }
}

/** The blob as it may reach the target: paced, hashed and counted (VerifyStream). */
function verifiedSource(job: BlobJob, opts: TransferOptions): VerifyStream {
  const rates = [opts.rate, job.src.bandwidth, job.dst.bandwidth].filter(
    (r): r is ByteRate => r !== undefined,
  )
  const source = Readable.from(sourceBytes(job, opts), { objectMode: false })
  const verify = new VerifyStream(job.desc, opts.onBytes, opts.minRate)
  const paced = rates.length > 0 ? source.pipe(new RateLimited(rates)) : source
  for (const s of new Set([source, paced])) s.on('error', (err) => verify.destroy(err))
  paced.pipe(verify)
  verify.on('close', () => source.destroy())
  return verify
}

/** One upload of the whole blob (POST, PUT with the body). */
export async function uploadWhole(job: BlobJob, opts: TransferOptions, session?: string): Promise<void> {
  const verify = verifiedSource(job, opts)
  let verifyError: unknown
  verify.on('error', (err) => {
    verifyError = err
  })
  try {
    await job.dst.putBlob(job.dstRepo, job.desc, verify, session)
  } catch (err) {
    // the source's own failure (coded) explains it; a raw error is just the upload being torn down
    throw verifyError instanceof ImgsyncError ? verifyError : err
  } finally {
    verify.destroy()
  }
  if (verifyError) throw verifyError
}

/**
 * The blob in chunks of `uploads.chunkSize`: each chunk is kept until the registry holds it, so a
 * chunk that breaks off is continued from what the registry says it holds (GET on the session),
 * sending at most the rest of that chunk again. A 413 halves the chunk size (down to 256 KiB) for
 * the rest of the run. A lost session fails the attempt (the blob starts over).
 */
export async function uploadInChunks(
  job: BlobJob,
  uploads: ChunkedUploads,
  opts: TransferOptions,
  session?: string,
): Promise<void> {
  const upload = await uploads.begin(job.dstRepo, session)
  const verify = verifiedSource(job, opts)
  // one budget for the session's continuations, filled again whenever the registry holds more
  const budget = new StepBudget(opts.transfer, upload.offset)
  try {
    let pieces: Buffer[] = []
    let pending = 0
    for await (const piece of verify) {
      pieces.push(piece as Buffer)
      pending += (piece as Buffer).length
      if (pending >= chunkSize(uploads, upload)) {
        await sendChunk(job, uploads, upload, pieces, opts, budget)
        pieces = []
        pending = 0
      }
    }
    // the stream ended: the whole blob checked out, so its last bytes may go
    if (pending > 0) await sendChunk(job, uploads, upload, pieces, opts, budget)
    await uploads.commit(job.dstRepo, upload, job.desc.digest)
  } catch (err) {
    verify.destroy()
    await uploads.cancel(job.dstRepo, upload)
    throw err
  }
}

function chunkSize(uploads: ChunkedUploads, upload: BlobUpload): number {
  return Math.max(uploads.chunkSize ?? FALLBACK_CHUNK, upload.minChunk ?? 0)
}

/** Sends one chunk; continues it from what the registry holds after a failure, in smaller pieces after a 413. */
async function sendChunk(
  job: BlobJob,
  uploads: ChunkedUploads,
  upload: BlobUpload,
  chunk: Buffer[],
  opts: TransferOptions,
  budget: StepBudget,
): Promise<void> {
  const start = upload.offset
  const data = Buffer.concat(chunk)
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
