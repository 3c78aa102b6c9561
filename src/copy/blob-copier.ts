import { toImgsyncError } from '../errors.js'
import type { ByteRate } from '../registry/byte-rate.js'
import { freshRetryState, RetryPolicy, type TransferTally } from '../registry/retry-policy.js'
import type { BlobJob } from './blob-job.js'
import { FALLBACK_CHUNK, type TransferOptions, uploadInChunks, uploadWhole } from './blob-transfer.js'
import type { TransferGate } from './transfer-gate.js'
import type { MinRate } from './verify-stream.js'

/** Remembers, across runs, which target repositories hold which blobs (see BlobCache). */
export interface BlobLocations {
  /** a repository of `registry` known to hold `digest`, other than `exceptRepo` */
  find(registry: string, digest: string, exceptRepo: string): string | undefined
  /** whether `repo` of `registry` was seen holding `digest` */
  holds?(registry: string, repo: string, digest: string): boolean
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
  holds(registry: string, repo: string, digest: string): boolean {
    return this.map.get(`${registry}\n${digest}`)?.has(repo) ?? false
  }
  add(registry: string, repo: string, digest: string): void {
    const key = `${registry}\n${digest}`
    const set = this.map.get(key) ?? new Set<string>()
    set.add(repo)
    this.map.set(key, set)
  }
}

/** Blobs this large go up in chunks where the registry takes them, so a break costs one chunk. */
export const CHUNKED_ABOVE = 1024 * 1024 * 1024

export interface BlobCopierOptions {
  /** bytes moved (negative: taken back after a failed attempt) */
  onBytes?: (n: number) => void
  /** a blob moving slower than this fails with TIMEOUT */
  minRate?: MinRate
  /** the one retry policy (IMGSYNC_RETRIES, backoff, Retry-After); default: its defaults */
  policy?: RetryPolicy
  /** process-wide bytes per second (--limit-rate) */
  rate?: ByteRate
  signal?: AbortSignal
}

/**
 * Copies blobs into target repositories: skip what exists, mount what the same target registry
 * already holds elsewhere, stream the rest with verification. One transfer per digest per target
 * registry at a time: a second repository needing the same blob waits, then mounts it. A blob
 * this task already put into a repository is not asked for again.
 */
export class BlobCopier {
  private readonly inflight = new Map<string, Promise<void>>()
  /** repository + digest this task skipped, mounted or uploaded: there now, nothing to ask */
  private readonly done = new Set<string>()

  private readonly policy: RetryPolicy

  constructor(
    private readonly limit: TransferGate,
    private readonly locations: BlobLocations,
    private readonly opts: BlobCopierOptions = {},
  ) {
    this.policy = opts.policy ?? new RetryPolicy()
  }

  /** Copies one blob of an image into the target repository (skip, mount or stream). */
  async copy(job: BlobJob): Promise<void> {
    const { dst, dstRepo, desc, stats } = job
    const repoKey = `${dst.name}\n${dstRepo}\n${desc.digest}`
    const registryKey = `${dst.name}\n${desc.digest}`
    const same = this.inflight.get(repoKey)
    if (same || this.done.has(repoKey)) {
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
      this.done.add(repoKey)
    } finally {
      this.inflight.delete(repoKey)
      if (this.inflight.get(registryKey) === run) this.inflight.delete(registryKey)
    }
  }

  /**
   * Skip, mount or stream, asking the target no more than needed: a mount answers "is it there?"
   * itself (201), so no HEAD goes before it; a repository new in this task is not asked at all.
   */
  private async copyOnce(job: BlobJob): Promise<void> {
    const { src, srcRepo, dst, dstRepo, desc } = job
    const from =
      this.locations.find(dst.name, desc.digest, dstRepo) ?? (src.name === dst.name ? srcRepo : undefined)
    const mountable = from !== undefined && from !== dstRepo && dst.capabilities.mount
    const ask = !job.newRepo || (this.locations.holds?.(dst.name, dstRepo, desc.digest) ?? false)
    if (!mountable && ask && (await this.present(job))) return
    let session: string | undefined
    if (mountable) {
      const mount = await dst.mountBlob(dstRepo, desc.digest, from)
      if (mount.mounted) {
        job.stats.mounted++
        this.locations.add(dst.name, dstRepo, desc.digest)
        return
      }
      session = mount.session
      // refused (a stale location): the repository itself may hold it all the same
      if (ask && (await this.present(job))) {
        if (session) await dst.uploads?.cancel(dstRepo, { url: session, offset: 0 })
        return
      }
    }
    await this.limit(() => this.stream(job, session), job)
    this.locations.add(dst.name, dstRepo, desc.digest)
  }

  /** Whether the target repository holds the blob (then counted as skipped). */
  private async present(job: BlobJob): Promise<boolean> {
    if (!(await job.dst.hasBlob(job.dstRepo, job.desc.digest))) return false
    job.stats.skipped++
    this.locations.add(job.dst.name, job.dstRepo, job.desc.digest)
    return true
  }

  /**
   * Streams source → target under the retry policy: a failure the requests could not retry
   * themselves (an upload broken mid-way, a blob that arrived damaged) starts the blob again after
   * a backoff. A lost answer may hide a finished upload, so the target is asked first. Starting
   * over has the attempt budget of one request (nothing is kept, so it is never filled again);
   * continuing a download or a chunked upload after progress does not spend it (StepBudget), and
   * every break counts against the blob's cap on breaks.
   */
  private async stream(job: BlobJob, session: string | undefined): Promise<void> {
    let moved = 0
    const tally: TransferTally = { breaks: 0 }
    const budget = freshRetryState(tally)
    const transfer: TransferOptions = {
      policy: this.policy,
      transfer: tally,
      rate: this.opts.rate,
      minRate: this.opts.minRate,
      signal: this.opts.signal,
      onBytes: (n) => {
        moved += n
        this.opts.onBytes?.(n)
      },
    }
    let first = true
    await this.policy.run(
      async () => {
        try {
          await this.upload(job, transfer, first ? session : undefined)
        } catch (err) {
          this.opts.onBytes?.(-moved)
          moved = 0
          const e = toImgsyncError(err)
          if (e.temporary && (await job.dst.hasBlob(job.dstRepo, job.desc.digest).catch(() => false))) return
          throw e
        } finally {
          first = false
        }
      },
      {
        what: `blob ${job.desc.digest.slice(0, 19)}`,
        replayable: true,
        toError: toImgsyncError,
        signal: this.opts.signal,
      },
      budget,
    )
    job.stats.copied++
    job.stats.bytes += moved
  }

  /** One upload: whole, or in chunks (configured, big, or after the registry refused a whole one with 413). */
  private async upload(job: BlobJob, transfer: TransferOptions, session: string | undefined): Promise<void> {
    const uploads = job.dst.uploads
    const chunk = uploads?.chunkSize
    if (uploads && ((chunk !== undefined && job.desc.size > chunk) || job.desc.size >= CHUNKED_ABOVE)) {
      return uploadInChunks(job, uploads, transfer, session)
    }
    try {
      await uploadWhole(job, transfer, session)
    } catch (err) {
      const e = toImgsyncError(err)
      if (e.status !== 413 || !uploads) throw e
      // a body limit in front of the registry: chunks from now on, for this registry
      uploads.chunkSize = Math.min(uploads.chunkSize ?? FALLBACK_CHUNK, FALLBACK_CHUNK)
      await uploadInChunks(job, uploads, transfer)
    }
  }
}
