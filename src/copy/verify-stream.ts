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
 * Passes a blob through while hashing and counting it. It fails the stream (so the upload is
 * aborted and never committed) when the size overruns, the digest differs at the end, or the
 * blob moves slower than `minRate`. The last chunk is held back until the digest is checked, so
 * the target never receives a whole wrong blob even if it would not check `?digest=` itself.
 */
export class VerifyStream extends Transform {
  private readonly hash: Hash
  private readonly expectedHex: string
  private seen = 0
  private held: Buffer | undefined
  private watchdog: NodeJS.Timeout | undefined

  constructor(
    private readonly desc: Descriptor,
    private readonly onBytes?: (n: number) => void,
    minRate?: MinRate,
  ) {
    // a few of undici's 64 KiB chunks may wait here: fewer pause/resume turns per blob than 16 KiB
    super({ highWaterMark: BLOB_STREAM_BUFFER })
    const [alg, hex] = desc.digest.split(':')
    if ((alg !== 'sha256' && alg !== 'sha512') || !hex) {
      throw new ImgsyncError('UNSUPPORTED_MEDIA_TYPE', `unsupported digest algorithm in ${desc.digest}`)
    }
    this.hash = createHash(alg)
    this.expectedHex = hex
    if (minRate) this.watch(minRate)
  }

  private watch({ bytes, windowMs }: MinRate): void {
    let mark = 0
    this.watchdog = setInterval(() => {
      if (this.seen - mark < bytes && this.seen < this.desc.size) {
        this.destroy(
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
    this.once('close', () => clearInterval(this.watchdog))
  }

  get bytes(): number {
    return this.seen
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length
    if (this.seen > this.desc.size) {
      cb(this.mismatch(`more than the ${this.desc.size} bytes its descriptor declares`))
      return
    }
    this.hash.update(chunk)
    this.onBytes?.(chunk.length)
    const previous = this.held
    this.held = chunk
    cb(null, previous)
  }

  override _flush(cb: TransformCallback): void {
    if (this.seen !== this.desc.size) {
      cb(this.mismatch(`${this.seen} bytes, but its descriptor declares ${this.desc.size}`))
      return
    }
    const hex = this.hash.digest('hex')
    if (hex !== this.expectedHex) {
      cb(this.mismatch(`content hashing to ${hex.slice(0, 12)}…`))
      return
    }
    cb(null, this.held)
  }

  private mismatch(what: string): ImgsyncError {
    return new ImgsyncError('DIGEST_MISMATCH', `blob ${this.desc.digest.slice(0, 19)}… arrived as ${what}`, {
      temporary: true,
      suggestions: ['the source sent damaged data; re-run the sync'],
    })
  }
}
