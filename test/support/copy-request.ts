import type { CopyRequest } from '../../src/copy/copy-image.js'
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
