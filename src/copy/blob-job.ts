import type { RegistryApi } from '../registry/api.js'
import type { Descriptor } from '../registry/media-types.js'

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

/** One blob to bring into a target repository, and where its counts go. */
export interface BlobJob {
  src: RegistryApi
  srcRepo: string
  dst: RegistryApi
  dstRepo: string
  desc: Descriptor
  stats: BlobStats
  /**
   * the target repository did not exist when the task listed it: it holds no blob this task did
   * not put there (unless the blob locations say it does), so nothing is asked before an upload
   */
  newRepo?: boolean
}
