import pLimit from 'p-limit'
import { BlobCopier, MemoryBlobLocations } from '../../src/copy/blob-copier.js'
import type { CopyRequest } from '../../src/copy/copy-image.js'
import { RetryPolicy } from '../../src/registry/retry-policy.js'
import { MemoryRegistry } from './memory-registry.js'

/** Two in-memory registries and copy requests from src app:1.0 to dst mirror/app:1.0 (override off). */
export function copyBetween() {
  const src = new MemoryRegistry('src.example')
  const dst = new MemoryRegistry('dst.example')
  const req = (over: Partial<CopyRequest> = {}): CopyRequest => ({
    src,
    srcRepo: 'app',
    srcRef: '1.0',
    dst,
    dstRepo: 'mirror/app',
    dstTag: '1.0',
    override: false,
    dryRun: false,
    ...over,
  })
  return { src, dst, req }
}

/**
 * A blob copier as a run makes one (in-memory blob locations), but whose retries wait 1 ms instead
 * of 200 ms doubling: as many attempts, without seconds of backoff in a unit test.
 */
export function quickCopier(concurrency = 4): BlobCopier {
  return new BlobCopier(pLimit(concurrency), new MemoryBlobLocations(), {
    policy: new RetryPolicy({ backoffMs: 1 }),
  })
}
