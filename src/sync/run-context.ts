// What every run shares, made in one place for the commands and for `serve` alike: the records
// writer, the registry pool (whose requests a stop signal ends), the caches remembered across runs
// (blob locations, target tags), the lock directory, and the floor under a blob's progress.
import { openBlobLocations } from '../copy/blob-cache.js'
import type { BlobLocations } from '../copy/blob-copier.js'
import { openTargetTags, type TargetTags } from '../copy/tag-cache.js'
import type { MinRate } from '../copy/verify-stream.js'
import { RecordWriter, type Rotation } from '../records/store.js'
import { ByteRate } from '../registry/byte-rate.js'
import { DEFAULT_TIMEOUT_MS, LIMITS } from '../registry/limits.js'
import { RetryPolicy } from '../registry/retry-policy.js'
import { RegistryPool } from './registries.js'
import type { BackendWatch } from './watched-registry.js'

/**
 * How long to wait for registries, how often to try again, how long to wait out rate limits
 * (IMGSYNC_TIMEOUT, IMGSYNC_RETRIES, IMGSYNC_RATE_LIMIT_WAIT).
 */
export interface NetworkSettings {
  timeoutMs?: number
  retries?: number
  rateLimitWaitMs?: number
}

/** Where state beside the records lives; `off` keeps a cache in memory, or nowhere. */
export interface CacheSettings {
  lockDir: string
  blobLocations: string | 'off'
  targetTags: string | 'off'
  targetTagsTtlSeconds: number
}

export interface RunContextOptions {
  recordsPath: string
  network: NetworkSettings
  caches: CacheSettings
  /** the docker config file consulted for credentials */
  dockerConfig: string
  /** ask the target for every tag, trusting no remembered digest */
  fullCheck?: boolean
  /** SIGINT/SIGTERM: no new work, and every request in flight ends */
  signal: AbortSignal
  /** requests in flight per registry at most, unless its entry says otherwise (--concurrency) */
  concurrency?: number
  /** blob bytes per second for the whole process (--limit-rate) */
  limitRate?: number
  /** when the records file is rotated, and how many rotated files are kept */
  rotation?: Rotation
  /** told when a blob download starts (a progress view's byte total) */
  watch?: BackendWatch
}

export interface RunContext {
  records: RecordWriter
  pool: RegistryPool
  signal: AbortSignal
  blobLocations: BlobLocations
  targetTags: TargetTags
  lockDir: string
  /** a blob moving slower than this fails with TIMEOUT */
  blobMinRate: MinRate
  /** the one retry policy for requests and blob transfers */
  retry: RetryPolicy
  /** process-wide blob bytes per second (--limit-rate) */
  rate?: ByteRate
  /** flushes and closes what the run opened */
  close(): void
}

export function createRunContext(opts: RunContextOptions): RunContext {
  const records = new RecordWriter(opts.recordsPath, opts.rotation)
  const { caches } = opts
  return {
    records,
    pool: new RegistryPool({
      signal: opts.signal,
      network: opts.network,
      dockerConfig: opts.dockerConfig,
      concurrency: opts.concurrency,
      watch: opts.watch,
    }),
    signal: opts.signal,
    blobLocations: openBlobLocations(caches.blobLocations),
    targetTags: openTargetTags(caches.targetTags, caches.targetTagsTtlSeconds, opts.fullCheck),
    lockDir: caches.lockDir,
    blobMinRate: {
      bytes: LIMITS.blobMinBytesPerWindow,
      windowMs: opts.network.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    },
    retry: new RetryPolicy({ retries: opts.network.retries, rateLimitWaitMs: opts.network.rateLimitWaitMs }),
    ...(opts.limitRate && { rate: new ByteRate(opts.limitRate) }),
    close: () => records.close(),
  }
}
