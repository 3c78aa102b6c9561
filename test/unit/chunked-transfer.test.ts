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

  override async putBlob(repo: string, desc: Descriptor, body: Readable, session?: string): Promise<void> {
    if (desc.size > this.bodyLimit) {
      body.destroy()
      throw new ImgsyncError('REGISTRY_ERROR', 'too large', { status: 413 })
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

/** A source whose blob download breaks once after `breakAt` bytes. */
class BreakingSource extends MemoryRegistry {
  breakAt: number | undefined
  offsets: number[] = []
  override async getBlob(repo: string, desc: Descriptor, offset = 0): Promise<Readable> {
    this.offsets.push(offset)
    const whole = await super.getBlob(repo, desc, offset)
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
