// Chunked uploads read the next chunk while one goes up, and hold no more than two: the download
// does not wait for each PATCH, memory stays bounded whatever the blob's size, and a chunk that
// cannot go up stops the download at once.
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import pLimit from 'p-limit'
import { describe, expect, it } from 'vitest'
import { BlobCopier, MemoryBlobLocations } from '../../src/copy/blob-copier.js'
import { emptyBlobStats } from '../../src/copy/blob-job.js'
import { ImgsyncError } from '../../src/errors.js'
import type { BlobUpload, ChunkedUploads } from '../../src/registry/api.js'
import type { Descriptor } from '../../src/registry/media-types.js'
import { RetryPolicy } from '../../src/registry/retry-policy.js'
import { MemoryRegistry } from '../support/memory-registry.js'
import { rejection } from '../support/rejection.js'

const MiB = 1024 * 1024

/** A source that counts the bytes its downloads have handed out. */
class CountingSource extends MemoryRegistry {
  handedOut = 0
  override async getBlob(repo: string, desc: Descriptor, offset = 0): Promise<Readable> {
    const whole = await super.getBlob(repo, desc, offset)
    const self = this
    return Readable.from(
      (async function* () {
        for await (const c of whole) {
          self.handedOut += (c as Buffer).length
          yield c as Buffer
        }
      })(),
      { objectMode: false },
    )
  }
}

/** A target taking chunks of 1 MiB; `beforeAppend` runs at the start of each PATCH. */
class ChunkTarget extends MemoryRegistry {
  received = 0
  patches = 0
  commits = 0
  cancels = 0
  /** bytes the source had handed out when each PATCH started */
  handedAtPatch: number[] = []
  beforeAppend: (patch: number) => Promise<void> = async () => undefined
  private parts: Buffer[] = []

  readonly uploads: ChunkedUploads = {
    chunkSize: MiB,
    begin: async () => ({ url: 'session', offset: 0 }),
    append: async (_repo, upload: BlobUpload, chunk: Buffer[]) => {
      this.patches++
      await this.beforeAppend(this.patches)
      const data = Buffer.concat(chunk)
      this.received += data.length
      this.parts.push(data)
      upload.offset += data.length
    },
    status: async () => this.received,
    commit: async (repo) => {
      this.commits++
      this.seedBlob(repo, Buffer.concat(this.parts))
    },
    cancel: async () => {
      this.cancels++
    },
  }
}

function world(size: number) {
  const src = new CountingSource('src.example', { chunkSize: 64 * 1024 })
  const dst = new ChunkTarget('dst.example')
  const bytes = randomBytes(size)
  const desc = src.seedBlob('app', bytes)
  const copier = new BlobCopier(pLimit(1), new MemoryBlobLocations(), {
    policy: new RetryPolicy({ retries: 0, backoffMs: 1 }),
  })
  dst.beforeAppend = async () => {
    dst.handedAtPatch.push(src.handedOut)
  }
  const copy = () =>
    copier.copy({ src, srcRepo: 'app', dst, dstRepo: 'mirror', desc, stats: emptyBlobStats() })
  return { src, dst, bytes, desc, copy }
}

/** Resolves once `ready()` holds; the test's timeout ends a wait that never comes true. */
async function until(ready: () => boolean): Promise<void> {
  while (!ready()) await new Promise((resolve) => setImmediate(resolve))
}

describe('chunked uploads, pipelined', () => {
  it('the next chunk is read while one goes up, and no more than two are held', async () => {
    const { src, dst, bytes, desc, copy } = world(4 * MiB + 12_345)
    // each PATCH goes up only once the whole next chunk has been read: a download that waited for
    // the PATCH would never get there (the test would time out)
    dst.beforeAppend = async (patch) => {
      dst.handedAtPatch.push(src.handedOut)
      await until(() => src.handedOut >= Math.min(bytes.length, (patch + 1) * MiB))
    }
    await copy()
    expect(dst.blobBytes('mirror', desc.digest)?.equals(bytes)).toBe(true)
    expect(dst.patches).toBe(5)
    expect(dst.received).toBe(bytes.length)
    // when PATCH n starts, the download has gone no further than chunk n + 1 (the relay's own
    // buffer, a few hundred KiB, is smaller than a chunk): two chunks held at most
    dst.handedAtPatch.forEach((handed, i) => {
      expect(handed, `PATCH ${i + 1}`).toBeLessThanOrEqual((i + 2) * MiB)
    })
  })

  it('a chunk that cannot go up stops the download at once and cancels the session', async () => {
    const { src, dst, desc, copy } = world(8 * MiB)
    dst.beforeAppend = async (patch) => {
      if (patch === 2) throw new ImgsyncError('DENIED', 'no more pushes', { status: 403 })
    }
    const err = await rejection(copy())
    expect(err.code).toBe('DENIED')
    expect(dst.cancels).toBe(1)
    expect(dst.commits).toBe(0)
    expect(dst.hasBlobNow('mirror', desc.digest)).toBe(false)
    // the download stopped with the failed chunk (chunk 3 was being read), not at the end of the blob
    await new Promise((resolve) => setImmediate(resolve))
    expect(src.handedOut).toBeLessThanOrEqual(4 * MiB)
  })

  it('damaged bytes: every chunk but the last goes up, the last never does, nothing is committed', async () => {
    const { src, dst, desc, copy } = world(3 * MiB + 100)
    src.corruptBlob(desc.digest)
    const err = await rejection(copy())
    expect(err.code).toBe('DIGEST_MISMATCH')
    expect(dst.received).toBe(3 * MiB)
    expect(dst.commits).toBe(0)
    expect(dst.cancels).toBe(1)
    expect(dst.hasBlobNow('mirror', desc.digest)).toBe(false)
  })
})
