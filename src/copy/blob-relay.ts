// A blob on its way from the source to an upload, in one stage: each chunk the source's response
// hands over is paced (byte rates), counted and hashed in place (BlobCheck) and passed to the
// upload's body as it is, one chunk behind, so the last one waits for the digest check. It replaces
// a chain of four (an async generator, Readable.from, a pacing Transform, a verifying Transform)
// and their promise turns per chunk. A download that breaks off is continued with a Range request
// from the byte it stopped at, within the blob's retry budget.
import { AsyncResource } from 'node:async_hooks'
import { Readable } from 'node:stream'
import { ImgsyncError, toImgsyncError } from '../errors.js'
import { log } from '../log.js'
import { BLOB_STREAM_BUFFER } from '../registry/api.js'
import type { ByteRate } from '../registry/byte-rate.js'
import { noteRetry } from '../registry/request-stats.js'
import { StepBudget } from '../registry/retry-policy.js'
import type { BlobJob } from './blob-job.js'
import type { TransferOptions } from './blob-transfer.js'
import { BlobCheck } from './verify-stream.js'

/**
 * The source blob as a Readable for an upload body. It fails (so the upload is aborted and never
 * committed) with DIGEST_MISMATCH when the bytes overrun the size or end with another digest,
 * TIMEOUT when they move slower than `minRate`, or the source's own error when its download cannot
 * be continued: INTERRUPTED when a stop signal ended it (HTTP requests end at once; a stop during
 * the backoff before a download continues ends the wait).
 */
export class BlobRelay extends Readable {
  private readonly check: BlobCheck
  private readonly rates: ByteRate[]
  /** the download started on the first read, in the async context the relay was made in */
  private readonly scope = new AsyncResource('BlobRelay')
  private started = false
  private source: Readable | undefined
  /** the last chunk passed in, held back until the next one (or the digest check) */
  private held: Buffer | undefined
  /** the upload's buffer is full: the source waits for the next _read */
  private full = false
  /** a chunk waiting for the byte rates (the source waits for it), settled once it is passed on */
  private pacing: Promise<void> | undefined
  /** the source ended: what is left to do once no chunk waits for the byte rates */
  private ending: (() => void) | undefined
  private stopWatch: (() => void) | undefined

  constructor(
    private readonly job: BlobJob,
    private readonly opts: TransferOptions,
  ) {
    super({ highWaterMark: BLOB_STREAM_BUFFER })
    this.check = new BlobCheck(job.desc, opts.onBytes)
    this.rates = [opts.rate, job.src.bandwidth, job.dst.bandwidth].filter(
      (r): r is ByteRate => r !== undefined,
    )
    if (opts.minRate) this.stopWatch = this.check.watch(opts.minRate, (err) => this.destroy(err))
  }

  get bytes(): number {
    return this.check.bytes
  }

  override _read(): void {
    this.full = false
    if (!this.started) {
      this.started = true
      this.scope.runInAsyncScope(() => {
        this.download().catch((err: unknown) => this.destroy(toImgsyncError(err)))
      })
    } else if (!this.pacing) this.source?.resume()
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.stopWatch?.()
    this.source?.destroy()
    this.scope.emitDestroy()
    cb(err)
  }

  /** Reads the source from where the relay stands until it ends; continues a broken download. */
  private async download(): Promise<void> {
    const { src, srcRepo, desc } = this.job
    // continuing after progress is paid from a budget filled again by that progress (StepBudget)
    const budget = new StepBudget(this.opts.transfer)
    for (;;) {
      const from = this.check.bytes
      const source = await src.getBlob(srcRepo, desc, from)
      if (this.destroyed) {
        source.destroy()
        return
      }
      const failure = await this.relayFrom(source)
      // a chunk still waiting for the byte rates belongs before the place the download continues from
      await this.pacing
      if (failure === undefined || this.destroyed) return
      const e = toImgsyncError(failure)
      // a request that failed has spent its own retries already; one whose body broke before its
      // first byte made no progress: the attempt fails (not spent), and the blob starts over
      if (!e.temporary || e.retriesSpent || this.check.bytes === from || this.check.bytes >= desc.size)
        throw e
      await this.opts.policy.backoff(e, budget.at(this.check.bytes), this.opts.signal)
      noteRetry()
      log.debug(
        `${src.name}: ${desc.digest.slice(0, 19)}… continues from byte ${this.check.bytes}: ${e.message}`,
      )
    }
  }

  /** Passes one source response on; resolves at its end (after the digest check) or with its error. */
  private relayFrom(source: Readable): Promise<unknown> {
    this.source = source
    return new Promise((resolve) => {
      let ended = false
      source.on('data', (chunk: Buffer) => this.onChunk(source, chunk))
      source.once('error', resolve)
      source.once('close', () => {
        if (!ended)
          resolve(new ImgsyncError('NETWORK', 'the blob download closed early', { temporary: true }))
      })
      source.once('end', () => {
        ended = true
        // 'end' may come while the last chunk still waits for the byte rates
        this.ending = () => {
          this.finish()
          resolve(undefined)
        }
        if (!this.pacing) this.ending()
      })
    })
  }

  /** The source ended: the last chunk goes once the whole blob checked out. */
  private finish(): void {
    if (this.destroyed) return
    const err = this.check.finish()
    if (err) {
      this.destroy(err)
      return
    }
    if (this.held) this.push(this.held)
    this.push(null)
  }

  private onChunk(source: Readable, chunk: Buffer): void {
    if (this.rates.length === 0) {
      this.pass(source, chunk)
      return
    }
    source.pause()
    this.pacing = Promise.all(this.rates.map((r) => r.take(chunk.length))).then(
      () => {
        this.pacing = undefined
        this.pass(source, chunk)
        if (this.ending) this.ending()
        else if (!this.full && !this.destroyed) source.resume()
      },
      (err: unknown) => {
        this.pacing = undefined
        this.destroy(toImgsyncError(err))
      },
    )
  }

  private pass(source: Readable, chunk: Buffer): void {
    if (this.destroyed) return
    const err = this.check.add(chunk)
    if (err) {
      this.destroy(err)
      return
    }
    const previous = this.held
    this.held = chunk
    if (previous !== undefined && !this.push(previous)) {
      this.full = true
      source.pause()
    }
  }
}
