import type { LimitFunction } from 'p-limit'
import { isImgsyncError, toImgsyncError } from '../errors.js'
import type { RegistryApi } from '../registry/api.js'
import type { Descriptor } from '../registry/media-types.js'
import { type MinRate, VerifyStream } from './verify-stream.js'

export interface BlobStats {
  copied: number
  mounted: number
  skipped: number
  /** bytes streamed from source to target (mounts and skips count zero) */
  bytes: number
}

export function emptyBlobStats(): BlobStats {
  return { copied: 0, mounted: 0, skipped: 0, bytes: 0 }
}

/** Remembers, across runs, which target repositories hold which blobs (see BlobCache). */
export interface BlobLocations {
  /** a repository of `registry` known to hold `digest`, other than `exceptRepo` */
  find(registry: string, digest: string, exceptRepo: string): string | undefined
  add(registry: string, repo: string, digest: string): void
  /** persists what was added (a file-backed cache); called when a task ends */
  flush?(): void
}

/** An in-process BlobLocations, used when no persistent cache is configured. */
export class MemoryBlobLocations implements BlobLocations {
  private readonly map = new Map<string, Set<string>>()
  find(registry: string, digest: string, exceptRepo: string): string | undefined {
    for (const repo of this.map.get(`${registry}\n${digest}`) ?? []) if (repo !== exceptRepo) return repo
    return undefined
  }
  add(registry: string, repo: string, digest: string): void {
    const key = `${registry}\n${digest}`
    const set = this.map.get(key) ?? new Set<string>()
    set.add(repo)
    this.map.set(key, set)
  }
}

const BLOB_ATTEMPTS = 3

/** One blob to bring into a target repository, and where its counts go. */
export interface BlobJob {
  src: RegistryApi
  srcRepo: string
  dst: RegistryApi
  dstRepo: string
  desc: Descriptor
  stats: BlobStats
}

/**
 * Copies blobs into target repositories: skip what exists, mount what the same target registry
 * already holds elsewhere, stream the rest with verification. One transfer per digest per target
 * registry at a time: a second repository needing the same blob waits, then mounts it.
 */
export class BlobCopier {
  private readonly inflight = new Map<string, Promise<void>>()

  constructor(
    private readonly limit: LimitFunction,
    private readonly locations: BlobLocations,
    private readonly onBytes?: (n: number) => void,
    private readonly minRate?: MinRate,
  ) {}

  /** Copies one blob of an image into the target repository (skip, mount or stream). */
  async copy(job: BlobJob): Promise<void> {
    const { dst, dstRepo, desc, stats } = job
    const repoKey = `${dst.name}\n${dstRepo}\n${desc.digest}`
    const registryKey = `${dst.name}\n${desc.digest}`
    const same = this.inflight.get(repoKey)
    if (same) {
      await same
      stats.skipped++
      return
    }
    // another repository of this registry is receiving the blob now: wait so it crosses once
    const other = this.inflight.get(registryKey)
    const run = (async () => {
      if (other) await other.catch(() => undefined)
      await this.copyOnce(job)
    })()
    this.inflight.set(repoKey, run)
    if (!other) this.inflight.set(registryKey, run)
    try {
      await run
    } finally {
      this.inflight.delete(repoKey)
      if (this.inflight.get(registryKey) === run) this.inflight.delete(registryKey)
    }
  }

  private async copyOnce(job: BlobJob): Promise<void> {
    const { src, srcRepo, dst, dstRepo, desc, stats } = job
    if (await dst.hasBlob(dstRepo, desc.digest)) {
      stats.skipped++
      this.locations.add(dst.name, dstRepo, desc.digest)
      return
    }
    let session: string | undefined
    const from =
      this.locations.find(dst.name, desc.digest, dstRepo) ?? (src.name === dst.name ? srcRepo : undefined)
    if (from !== undefined && from !== dstRepo && dst.capabilities.mount) {
      const mount = await dst.mountBlob(dstRepo, desc.digest, from)
      if (mount.mounted) {
        stats.mounted++
        this.locations.add(dst.name, dstRepo, desc.digest)
        return
      }
      session = mount.session
    }
    await this.limit(() => this.stream(job, session))
    this.locations.add(dst.name, dstRepo, desc.digest)
  }

  /** Streams source → target; a stream cannot be replayed, so a retry re-checks and restarts the blob. */
  private async stream(job: BlobJob, session: string | undefined): Promise<void> {
    const { dst, dstRepo, desc, stats } = job
    for (let attempt = 1; ; attempt++) {
      let moved = 0
      try {
        await this.streamOnce(job, attempt === 1 ? session : undefined, (n) => {
          moved += n
          this.onBytes?.(n)
        })
        stats.copied++
        stats.bytes += moved
        return
      } catch (raw) {
        const err = toImgsyncError(raw)
        this.onBytes?.(-moved)
        if (!err.temporary || attempt >= BLOB_ATTEMPTS) throw err
        // a lost answer may hide a finished upload
        if (await dst.hasBlob(dstRepo, desc.digest).catch(() => false)) {
          stats.copied++
          return
        }
      }
    }
  }

  /** One source GET piped through verification into one upload; the source goes when it fails. */
  private async streamOnce(job: BlobJob, session: string | undefined, onBytes: (n: number) => void) {
    const body = await job.src.getBlob(job.srcRepo, job.desc)
    try {
      const verify = new VerifyStream(job.desc, onBytes, this.minRate)
      body.on('error', (err) => verify.destroy(err))
      body.pipe(verify)
      let verifyError: unknown
      verify.on('error', (err) => {
        verifyError = err
      })
      try {
        await job.dst.putBlob(job.dstRepo, job.desc, verify, session)
      } catch (err) {
        // the source's own failure (coded) explains it; a raw error is just the upload being torn down
        throw isImgsyncError(verifyError) ? verifyError : err
      }
      if (verifyError) throw verifyError
    } catch (err) {
      // the source connection goes too, not only the upload
      body.destroy()
      throw err
    }
  }
}
