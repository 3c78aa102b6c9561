// BlobRelay: the one stage between a source download and an upload body. It must pass the bytes
// on intact, hash them in place and hold the last chunk back until the digest checks out, continue
// a broken download from the byte it stopped at, wait for the byte rates, fail on a stall, and not
// continue a download that a stop signal ended.
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { emptyBlobStats } from '../../src/copy/blob-job.js'
import { BlobRelay } from '../../src/copy/blob-relay.js'
import type { TransferOptions } from '../../src/copy/blob-transfer.js'
import { ImgsyncError } from '../../src/errors.js'
import { ByteRate } from '../../src/registry/byte-rate.js'
import type { Descriptor } from '../../src/registry/media-types.js'
import { emptyRequestStats, withRequestStats } from '../../src/registry/request-stats.js'
import { RetryPolicy } from '../../src/registry/retry-policy.js'
import { MemoryRegistry } from '../support/memory-registry.js'
import { rejection } from '../support/rejection.js'

/**
 * A source whose downloads break after `breakAt` bytes (once), or stall (stay open, sending nothing
 * more) after `stallAt`.
 * With `burst`, a download has all its bytes (and its end or break) at once, as a socket read
 * that holds the last bytes and the end of the response does: its end, or its break, may then
 * come while the relay still waits with the chunk before.
 */
class TestSource extends MemoryRegistry {
  breakAt: number | undefined
  stallAt: number | undefined
  burst = false
  offsets: number[] = []
  /** the streams handed out, to see that a stopped relay closes its download */
  streams: Readable[] = []
  override async getBlob(repo: string, desc: Descriptor, offset = 0): Promise<Readable> {
    this.offsets.push(offset)
    const whole = await super.getBlob(repo, desc, offset)
    const { breakAt, stallAt } = this
    this.breakAt = undefined
    if (this.burst) return this.inOneBurst(whole, offset, breakAt, stallAt)
    let seen = offset
    const stream = Readable.from(
      (async function* () {
        for await (const c of whole) {
          const chunk = c as Buffer
          if (breakAt !== undefined && seen + chunk.length > breakAt)
            throw new ImgsyncError('NETWORK', 'reset', { temporary: true })
          if (stallAt !== undefined && seen + chunk.length > stallAt) await new Promise(() => undefined)
          seen += chunk.length
          yield chunk
        }
      })(),
      { objectMode: false },
    )
    this.streams.push(stream)
    return stream
  }

  private async inOneBurst(
    whole: Readable,
    offset: number,
    breakAt: number | undefined,
    stallAt: number | undefined,
  ): Promise<Readable> {
    const stream = new Readable({ read() {} })
    this.streams.push(stream)
    let seen = offset
    for await (const c of whole) {
      const chunk = c as Buffer
      // a stall: the download stays open with nothing more to read
      if (stallAt !== undefined && seen + chunk.length > stallAt) return stream
      if (breakAt !== undefined && seen + chunk.length > breakAt) {
        process.nextTick(() => stream.destroy(new ImgsyncError('NETWORK', 'reset', { temporary: true })))
        return stream
      }
      seen += chunk.length
      stream.push(chunk)
    }
    stream.push(null)
    return stream
  }
}

function setup(size = 64 * 1024, opts: Partial<TransferOptions> = {}) {
  const src = new TestSource('src.example', { chunkSize: 1000 })
  const dst = new MemoryRegistry('dst.example')
  const bytes = randomBytes(size)
  const desc = src.seedBlob('app', bytes)
  let counted = 0
  const transfer: TransferOptions = {
    policy: new RetryPolicy({ retries: 2, backoffMs: 1 }),
    transfer: { breaks: 0 },
    onBytes: (n) => {
      counted += n
    },
    ...opts,
  }
  const relay = () =>
    new BlobRelay({ src, srcRepo: 'app', dst, dstRepo: 'mirror', desc, stats: emptyBlobStats() }, transfer)
  return { src, bytes, desc, relay, counted: () => counted }
}

/** Reads a relay to its end; what arrived before a failure is in `got` either way. */
async function drain(relay: BlobRelay, got: Buffer[] = []): Promise<Buffer> {
  for await (const c of relay) got.push(c as Buffer)
  return Buffer.concat(got)
}

describe('BlobRelay', () => {
  it('passes the blob on intact and counts every byte once', async () => {
    const { bytes, relay, counted } = setup()
    const out = await drain(relay())
    expect(out.equals(bytes)).toBe(true)
    expect(counted()).toBe(bytes.length)
  })

  it('damaged bytes: DIGEST_MISMATCH, and the last chunk never passes', async () => {
    const { src, desc, relay } = setup()
    src.corruptBlob(desc.digest)
    const got: Buffer[] = []
    const err = await rejection(drain(relay(), got))
    expect(err.code).toBe('DIGEST_MISMATCH')
    expect(err.temporary).toBe(true)
    expect(Buffer.concat(got).length).toBeLessThan(desc.size)
    expect(src.streams.every((s) => s.destroyed)).toBe(true)
  })

  it('a download that breaks continues from the byte it stopped at, counted once, in the caller’s stats', async () => {
    const { src, bytes, relay, counted } = setup()
    src.breakAt = 20_500
    const stats = emptyRequestStats()
    const r = await withRequestStats(stats, async () => relay())
    // read from outside the caller's async context, as an upload reads its body
    const out = await drain(r)
    expect(out.equals(bytes)).toBe(true)
    expect(src.offsets).toEqual([0, 20_000])
    expect(counted()).toBe(bytes.length)
    expect(stats.retries).toBe(1)
  })

  it('a failure before any byte arrived is not retried here (the request retried it already)', async () => {
    const { src, desc, relay } = setup()
    src.failGetBlob(desc.digest, new ImgsyncError('NETWORK', 'refused', { temporary: true }), 1)
    expect((await rejection(drain(relay()))).code).toBe('NETWORK')
    expect(src.offsets).toEqual([0])
  })

  it('under a byte rate every chunk waits for it; an end that comes meanwhile waits for the last one', async () => {
    const { src, bytes, relay, counted } = setup(64 * 1024, { rate: new ByteRate(512 * 1024 * 1024) })
    src.burst = true
    const out = await drain(relay())
    expect(out.equals(bytes)).toBe(true)
    expect(counted()).toBe(bytes.length)
  })

  it('under a byte rate, a break while a chunk waits: the download continues after that chunk', async () => {
    const rate = new ByteRate(256 * 1024)
    const { src, bytes, relay, counted } = setup(16 * 1024, { rate })
    src.burst = true
    src.breakAt = 8_500
    // no burst left: the first chunk waits (a few ms), and the break comes meanwhile
    await rate.take(64 * 1024)
    const out = await drain(relay())
    expect(out.equals(bytes)).toBe(true)
    expect(counted()).toBe(bytes.length)
    // the break discards what the download still buffered: it came while the first chunk waited
    expect(src.offsets).toEqual([0, 1000])
  })

  it('a stop mid-relay (the download ended with INTERRUPTED): not continued, the upload body fails', async () => {
    const { src, desc, relay } = setup()
    src.burst = true
    src.stallAt = 10_000
    const r = relay()
    const got: Buffer[] = []
    const reading = drain(r, got)
    while (r.bytes < 10_000) await new Promise((resolve) => setImmediate(resolve))
    // what the transport does to a request in flight when a stop signal comes
    src.streams[0]?.destroy(new ImgsyncError('INTERRUPTED', 'stopped by a signal'))
    const err = await rejection(reading)
    expect(err.code).toBe('INTERRUPTED')
    expect(Buffer.concat(got).length).toBeLessThan(desc.size)
    expect(src.offsets).toEqual([0])
  })

  it('a stop during the backoff before a download continues: INTERRUPTED, no further request', async () => {
    const stop = new AbortController()
    const { src, relay } = setup(64 * 1024, {
      policy: new RetryPolicy({ retries: 2, backoffMs: 60_000 }),
      signal: stop.signal,
    })
    src.breakAt = 20_500
    const r = relay()
    const reading = drain(r)
    while (src.streams[0]?.destroyed !== true) await new Promise((resolve) => setImmediate(resolve))
    stop.abort()
    expect((await rejection(reading)).code).toBe('INTERRUPTED')
    expect(src.offsets).toEqual([0])
  })

  it('a download that stops moving fails with TIMEOUT under a minimum rate', async () => {
    const { src, relay } = setup(64 * 1024, { minRate: { bytes: 1, windowMs: 20 } })
    src.stallAt = 10_000
    const err = await rejection(drain(relay()))
    expect(err.code).toBe('TIMEOUT')
    expect(src.streams[0]?.destroyed).toBe(true)
  })
})
