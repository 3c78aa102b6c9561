// Blob transfers that break and continue: chunked uploads (configured, or after a 413 body limit)
// that resume from what the registry holds, downloads that resume with a Range request, and the
// digest checked before the last bytes go out.
import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import pLimit from 'p-limit'
import { describe, expect, it } from 'vitest'
import { BlobCopier, MemoryBlobLocations } from '../../src/copy/blob-copier.js'
import { emptyBlobStats } from '../../src/copy/blob-job.js'
import { ImgsyncError } from '../../src/errors.js'
import type { BlobUpload, ChunkedUploads } from '../../src/registry/api.js'
import type { Descriptor } from '../../src/registry/media-types.js'
import { emptyRequestStats, withRequestStats } from '../../src/registry/request-stats.js'
import { RetryPolicy } from '../../src/registry/retry-policy.js'
import { MemoryRegistry, MT } from '../support/memory-registry.js'
import { rejection } from '../support/rejection.js'

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`

/** A target with chunked uploads, a request-body limit, and breaks on demand. */
class ChunkingRegistry extends MemoryRegistry {
  /** request bodies larger than this are refused with 413 (whole or chunk) */
  bodyLimit = Number.POSITIVE_INFINITY
  /** bytes of request bodies received, in all */
  received = 0
  patches = 0
  begins = 0
  cancels = 0
  /** PATCH numbers (1-based) that break after the registry kept `keep` of their bytes */
  breakPatch = new Map<number, { keep: number; loseSession?: boolean }>()
  private readonly sessions = new Map<string, Buffer[]>()

  /** the next this many whole uploads take in the body, then answer 503 (as a proxy in front does) */
  failPuts = 0
  /** whole uploads tried */
  puts = 0

  override async putBlob(repo: string, desc: Descriptor, body: Readable, session?: string): Promise<void> {
    if (desc.size > this.bodyLimit) {
      body.destroy()
      throw new ImgsyncError('REGISTRY_ERROR', 'too large', { status: 413 })
    }
    this.puts++
    if (this.failPuts > 0) {
      this.failPuts--
      await body.toArray()
      throw new ImgsyncError('REGISTRY_ERROR', 'HTTP 503', { status: 503, temporary: true })
    }
    return super.putBlob(repo, desc, body, session)
  }

  readonly uploads: ChunkedUploads = {
    chunkSize: undefined,
    begin: async (_repo, session) => {
      this.begins++
      const url = session ?? `u${this.begins}`
      this.sessions.set(url, [])
      return { url, offset: 0 }
    },
    append: async (_repo, upload: BlobUpload, chunk: Buffer[]) => {
      const data = Buffer.concat(chunk)
      this.patches++
      if (data.length > this.bodyLimit) throw new ImgsyncError('REGISTRY_ERROR', '413', { status: 413 })
      const parts = this.sessions.get(upload.url)
      if (!parts) throw new ImgsyncError('NOT_FOUND', 'no session', { status: 404 })
      const broken = this.breakPatch.get(this.patches)
      const kept = broken ? data.subarray(0, broken.keep) : data
      this.received += kept.length
      parts.push(kept)
      if (broken) {
        if (broken.loseSession) this.sessions.delete(upload.url)
        throw new ImgsyncError('NETWORK', 'reset mid-body', { temporary: true })
      }
      upload.offset += data.length
    },
    status: async (_repo, upload) => {
      const parts = this.sessions.get(upload.url)
      return parts ? parts.reduce((n, b) => n + b.length, 0) : undefined
    },
    commit: async (repo, upload, digest) => {
      const whole = Buffer.concat(this.sessions.get(upload.url) ?? [])
      if (sha(whole) !== digest) throw new ImgsyncError('DIGEST_MISMATCH', 'registry saw other bytes')
      this.seedBlob(repo, whole)
      this.sessions.delete(upload.url)
    },
    cancel: async (_repo, upload) => {
      this.cancels++
      this.sessions.delete(upload.url)
    },
  }
}

/**
 * A source whose blob download breaks once after `breakAt` bytes; or, with `breakEvery`, each of
 * the next `times` downloads breaks once it has sent `bytes` (0: before its first byte), every one
 * of them taken in by the reader before the break (as a socket's would be).
 */
class BreakingSource extends MemoryRegistry {
  breakAt: number | undefined
  breakEvery: { bytes: number; times: number } | undefined
  offsets: number[] = []
  override async getBlob(repo: string, desc: Descriptor, offset = 0): Promise<Readable> {
    this.offsets.push(offset)
    const whole = await super.getBlob(repo, desc, offset)
    const every = this.breakEvery
    if (every && every.times > 0) {
      every.times--
      return breaksAfter(whole, every.bytes)
    }
    const at = this.breakAt
    if (at === undefined) return whole
    this.breakAt = undefined
    let seen = 0
    return Readable.from(
      (async function* () {
        for await (const c of whole) {
          seen += c.length
          if (offset + seen > at) throw new ImgsyncError('NETWORK', 'reset', { temporary: true })
          yield c
        }
      })(),
    )
  }
}

/** `body`'s first `bytes`, handed out one chunk per read, then a reset once the reader wants more. */
function breaksAfter(body: Readable, bytes: number): Readable {
  const chunks = (async function* () {
    let left = bytes
    for await (const c of body) {
      if (left <= 0) break
      yield (c as Buffer).subarray(0, left)
      left -= (c as Buffer).length
    }
  })()
  return new Readable({
    highWaterMark: 0,
    read() {
      chunks.next().then(
        (r) =>
          r.done
            ? this.destroy(new ImgsyncError('NETWORK', 'reset', { temporary: true }))
            : this.push(r.value),
        (err) => this.destroy(err),
      )
    },
  })
}

function world(size = 100 * 1024) {
  const src = new BreakingSource('src.example', { chunkSize: 4096 })
  const dst = new ChunkingRegistry('dst.example')
  const bytes = randomBytes(size)
  const desc = src.seedBlob('app', bytes, MT.ociLayer)
  const copier = new BlobCopier(pLimit(2), new MemoryBlobLocations(), {
    policy: new RetryPolicy({ retries: 2, backoffMs: 1 }),
  })
  const copy = () => {
    const stats = emptyBlobStats()
    const cost = emptyRequestStats()
    return withRequestStats(cost, () =>
      copier.copy({ src, srcRepo: 'app', dst, dstRepo: 'mirror', desc, stats }),
    ).then(() => ({ stats, cost }))
  }
  return { src, dst, bytes, desc, copy }
}

describe('chunked uploads', () => {
  it('with a chunk size set, a blob goes up in chunks and arrives intact', async () => {
    const { dst, bytes, desc, copy } = world()
    dst.uploads.chunkSize = 16 * 1024
    await copy()
    expect(dst.patches).toBe(Math.ceil(bytes.length / (16 * 1024)))
    expect(dst.blobBytes('mirror', desc.digest)?.equals(bytes)).toBe(true)
    expect(dst.count('putBlob')).toBe(0)
  })

  it('a chunk that breaks mid-way continues from what the registry holds: ≤ 1.3x the bytes sent', async () => {
    const { dst, bytes, desc, copy } = world(96 * 1024)
    dst.uploads.chunkSize = 16 * 1024
    dst.breakPatch.set(3, { keep: 5000 })
    const { cost } = await copy()
    expect(dst.blobBytes('mirror', desc.digest)?.equals(bytes)).toBe(true)
    expect(dst.received).toBeLessThanOrEqual(1.3 * bytes.length)
    expect(dst.received).toBe(bytes.length)
    expect(cost.resumedBytes).toBe(2 * 16 * 1024 + 5000)
    expect(cost.retries).toBe(1)
  })

  it('a session the registry lost starts the blob over, and it still arrives', async () => {
    const { dst, bytes, desc, copy } = world(64 * 1024)
    dst.uploads.chunkSize = 16 * 1024
    dst.breakPatch.set(2, { keep: 0, loseSession: true })
    await copy()
    expect(dst.blobBytes('mirror', desc.digest)?.equals(bytes)).toBe(true)
    expect(dst.begins).toBe(2)
  })

  it('behind a body limit: a 413 for the whole blob switches to chunks, halving until they fit', async () => {
    const { dst, bytes, desc, copy } = world(3 * 1024 * 1024)
    dst.bodyLimit = 700 * 1024
    await copy()
    expect(dst.blobBytes('mirror', desc.digest)?.equals(bytes)).toBe(true)
    // 8 MiB, 4, 2, 1 MiB refused; 512 KiB fits, and is remembered for the rest of the run
    expect(dst.uploads.chunkSize).toBe(512 * 1024)
    expect(dst.received).toBe(bytes.length)
  })

  it('damaged bytes from the source: the last chunk never goes out, the session is cancelled', async () => {
    const { src, dst, desc, copy } = world(64 * 1024)
    dst.uploads.chunkSize = 16 * 1024
    src.corruptBlob(desc.digest)
    expect((await rejection(copy())).code).toBe('DIGEST_MISMATCH')
    expect(dst.hasBlobNow('mirror', desc.digest)).toBe(false)
    expect(dst.cancels).toBeGreaterThan(0)
  })
})

describe('resumed downloads', () => {
  it('a source download that breaks continues with the bytes still missing', async () => {
    const { src, dst, bytes, desc, copy } = world(100 * 1024)
    src.breakAt = 30 * 1024
    const { cost } = await copy()
    expect(dst.blobBytes('mirror', desc.digest)?.equals(bytes)).toBe(true)
    expect(src.offsets[0]).toBe(0)
    expect(src.offsets[1]).toBeGreaterThan(0)
    expect(src.offsets[1]).toBeLessThanOrEqual(30 * 1024)
    expect(cost.retries).toBe(1)
  })
})

// The world's policy allows 2 retries: 3 attempts of any one request or step, 20 breaks of a blob in all.
describe('the attempt budget of a blob transfer', () => {
  it('a download that breaks 6 times, each after 8 KiB more: each continuation has its own budget', async () => {
    const { src, dst, bytes, desc, copy } = world(100 * 1024)
    src.breakEvery = { bytes: 8 * 1024, times: 6 }
    const { cost } = await copy()
    expect(dst.blobBytes('mirror', desc.digest)?.equals(bytes)).toBe(true)
    expect(src.offsets).toEqual([0, 8, 16, 24, 32, 40, 48].map((k) => k * 1024))
    expect(cost.retries).toBe(6)
    // continued, never started over
    expect(dst.count('putBlob')).toBe(1)
  })

  it('breaks on both sides, 5 in all, more than one budget, none twice running: the blob arrives', async () => {
    // the download breaks 3 times after 8 KiB more each, then the target refuses the whole upload
    // (503) twice: the blob starts over twice, within the budget for starting over
    const { src, dst, bytes, desc, copy } = world(64 * 1024)
    src.breakEvery = { bytes: 8 * 1024, times: 3 }
    dst.failPuts = 2
    const { stats, cost } = await copy()
    expect(dst.blobBytes('mirror', desc.digest)?.equals(bytes)).toBe(true)
    expect(src.offsets).toEqual([0, 8 * 1024, 16 * 1024, 24 * 1024, 0, 0])
    expect(dst.puts).toBe(3)
    expect(cost.retries).toBe(5)
    expect(stats.copied).toBe(1)
  })

  it('a download that breaks before its first byte every time: no progress, the blob starts over twice, then NETWORK', async () => {
    const { src, dst, desc, copy } = world(64 * 1024)
    src.breakEvery = { bytes: 0, times: Number.POSITIVE_INFINITY }
    const err = await rejection(copy())
    expect(err.code).toBe('NETWORK')
    expect(err.retriesSpent).toBe(true)
    expect(src.offsets).toEqual([0, 0, 0])
    expect(dst.puts).toBe(3)
    expect(dst.hasBlobNow('mirror', desc.digest)).toBe(false)
  })

  it('a download that breaks after every 4 KiB, progressing each time, stops at the hard cap of 20 breaks', async () => {
    const { src, dst, desc, copy } = world(256 * 1024)
    src.breakEvery = { bytes: 4 * 1024, times: Number.POSITIVE_INFINITY }
    const err = await rejection(copy())
    expect(err.code).toBe('NETWORK')
    expect(err.retriesSpent).toBe(true)
    expect(err.message).toMatch(/broke off 20 times/)
    expect(src.offsets.length).toBe(21)
    expect(src.offsets.at(-1)).toBe(80 * 1024)
    expect(dst.hasBlobNow('mirror', desc.digest)).toBe(false)
  })

  it('a target that refuses every whole upload (503): the blob starts over twice, then fails', async () => {
    const { dst, desc, copy } = world(64 * 1024)
    dst.failPuts = Number.POSITIVE_INFINITY
    const err = await rejection(copy())
    expect(err.code).toBe('REGISTRY_ERROR')
    expect(err.retriesSpent).toBe(true)
    expect(dst.puts).toBe(3)
    expect(dst.hasBlobNow('mirror', desc.digest)).toBe(false)
  })

  it('chunks that break 5 times, each after the registry kept more: continued to the end', async () => {
    const { dst, bytes, desc, copy } = world(96 * 1024)
    dst.uploads.chunkSize = 16 * 1024
    for (const n of [2, 3, 4, 5, 6]) dst.breakPatch.set(n, { keep: 3000 })
    const { cost } = await copy()
    expect(dst.blobBytes('mirror', desc.digest)?.equals(bytes)).toBe(true)
    expect(dst.begins).toBe(1)
    expect(cost.retries).toBe(5)
  })

  it('a chunk that breaks with nothing kept, every time: fails after 3 PATCHes of it', async () => {
    const { dst, desc, copy } = world(64 * 1024)
    dst.uploads.chunkSize = 16 * 1024
    for (let n = 2; n < 100; n++) dst.breakPatch.set(n, { keep: 0 })
    const err = await rejection(copy())
    expect(err.code).toBe('NETWORK')
    expect(dst.patches).toBe(4)
    expect(dst.hasBlobNow('mirror', desc.digest)).toBe(false)
  })
})
