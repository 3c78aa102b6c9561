import { createHash, type Hash } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'
import { ImgsyncError } from '../errors.js'
import { BLOB_STREAM_BUFFER } from '../registry/api.js'
import type { Descriptor } from '../registry/media-types.js'

/** A blob that moves fewer than `bytes` in any `windowMs` fails with TIMEOUT (a slow drip is a stall). */
export interface MinRate {
  bytes: number
  windowMs: number
}

/**
 * What a blob's bytes must satisfy on their way: counted, hashed in place, no more than the
 * descriptor's size, and at the end exactly its size and digest. Each check answers with the
 * DIGEST_MISMATCH that fails the transfer, or undefined.
 */
export class BlobCheck {
  private readonly hash: Hash
  private readonly expectedHex: string
  private seen = 0

  constructor(
    private readonly desc: Descriptor,
    private readonly onBytes?: (n: number) => void,
  ) {
    const [alg, hex] = desc.digest.split(':')
    if ((alg !== 'sha256' && alg !== 'sha512') || !hex) {
      throw new ImgsyncError('UNSUPPORTED_MEDIA_TYPE', `unsupported digest algorithm in ${desc.digest}`)
    }
    this.hash = createHash(alg)
    this.expectedHex = hex
  }

  get bytes(): number {
    return this.seen
  }

  /** Counts and hashes the next bytes; bytes past the declared size are refused, not hashed. */
  add(chunk: Buffer): ImgsyncError | undefined {
    this.seen += chunk.length
    if (this.seen > this.desc.size)
      return this.mismatch(`more than the ${this.desc.size} bytes its descriptor declares`)
    this.hash.update(chunk)
    this.onBytes?.(chunk.length)
    return undefined
  }

  /** At the end of the blob: its size and digest. */
  finish(): ImgsyncError | undefined {
    if (this.seen !== this.desc.size) {
      return this.mismatch(`${this.seen} bytes, but its descriptor declares ${this.desc.size}`)
    }
    const hex = this.hash.digest('hex')
    return hex === this.expectedHex ? undefined : this.mismatch(`content hashing to ${hex.slice(0, 12)}…`)
  }

  /** Calls `stalled` with a TIMEOUT once fewer than `minRate.bytes` pass in a window; returns the stop. */
  watch({ bytes, windowMs }: MinRate, stalled: (err: ImgsyncError) => void): () => void {
    let mark = 0
    const timer = setInterval(() => {
      if (this.seen - mark < bytes && this.seen < this.desc.size) {
        stalled(
          new ImgsyncError(
            'TIMEOUT',
            `blob ${this.desc.digest.slice(0, 19)}… moved ${this.seen - mark} bytes in ${windowMs / 1000}s`,
            {
              temporary: true,
              suggestions: ['the link is too slow or stalled; check the network, or raise IMGSYNC_TIMEOUT'],
            },
          ),
        )
      }
      mark = this.seen
    }, windowMs).unref()
    return () => clearInterval(timer)
  }

  private mismatch(what: string): ImgsyncError {
    return new ImgsyncError('DIGEST_MISMATCH', `blob ${this.desc.digest.slice(0, 19)}… arrived as ${what}`, {
      temporary: true,
      suggestions: ['the source sent damaged data; re-run the sync'],
    })
  }
}

/**
 * Passes a blob through while hashing and counting it (BlobCheck). It fails the stream (so the
 * upload is aborted and never committed) when the size overruns, the digest differs at the end,
 * or the blob moves slower than `minRate`. The last chunk is held back until the digest is
 * checked, so the target never receives a whole wrong blob even if it would not check `?digest=`
 * itself. BlobRelay does the same in one stage with the source attached.
 */
export class VerifyStream extends Transform {
  private readonly check: BlobCheck
  private held: Buffer | undefined

  constructor(desc: Descriptor, onBytes?: (n: number) => void, minRate?: MinRate) {
    // a few of undici's 64 KiB chunks may wait here: fewer pause/resume turns per blob than 16 KiB
    super({ highWaterMark: BLOB_STREAM_BUFFER })
    this.check = new BlobCheck(desc, onBytes)
    if (minRate)
      this.once(
        'close',
        this.check.watch(minRate, (err) => this.destroy(err)),
      )
  }

  get bytes(): number {
    return this.check.bytes
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const err = this.check.add(chunk)
    if (err) {
      cb(err)
      return
    }
    const previous = this.held
    this.held = chunk
    cb(null, previous)
  }

  override _flush(cb: TransformCallback): void {
    const err = this.check.finish()
    if (err) cb(err)
    else cb(null, this.held)
  }
}
