import { ImgsyncError } from '../errors.js'
import type { Manifest, RegistryApi } from '../registry/api.js'
import {
  type ArtifactKind,
  artifactKind,
  blobDescriptors,
  type Descriptor,
  isIndexType,
  isSchema1,
  type ParsedManifest,
  parseManifest,
} from '../registry/media-types.js'
import { type BlobCopier, type BlobStats, emptyBlobStats } from './blob-copier.js'

export interface CopyRequest {
  src: RegistryApi
  srcRepo: string
  /** a tag or a digest */
  srcRef: string
  dst: RegistryApi
  dstRepo: string
  /** the target tag; undefined pushes by digest only */
  dstTag?: string
  override: boolean
  dryRun: boolean
  /** copy only these kinds; others end `excluded` */
  types?: ArtifactKind[]
}

export type CopyStatus = 'synced' | 'skipped' | 'planned' | 'excluded'

export interface CopyOutcome {
  status: CopyStatus
  digest: string
  mediaType: string
  kind?: ArtifactKind
  /** why it was skipped or excluded, or what a dry run would do */
  reason?: string
  blobs: BlobStats
  /** manifests pushed (children and root) */
  manifests: number
}

export interface CopyDeps {
  blobs: BlobCopier
}

function short(digest: string): string {
  return digest.slice(0, 19)
}

/**
 * Copies one image (or index, chart, artifact) from src to dst, digest-preserving. Order keeps the
 * target consistent: blobs, then child manifests by digest, then the root under its tag, so a tag
 * never points at an incomplete image.
 */
export async function copyImage(req: CopyRequest, deps: CopyDeps): Promise<CopyOutcome> {
  const { src, srcRepo, srcRef, dst, dstRepo, dstTag } = req
  const blobs = emptyBlobStats()
  const srcInfo = await src.headManifest(srcRepo, srcRef)
  if (!srcInfo) {
    throw new ImgsyncError(
      'NOT_FOUND',
      `${src.name}: ${srcRepo}${srcRef.includes(':') ? '@' : ':'}${srcRef} not found`,
      {
        suggestions: ['check the repository and tag at the source'],
      },
    )
  }

  let root: { manifest: Manifest; parsed: ParsedManifest } | undefined
  let kind: ArtifactKind | undefined
  if (req.types) {
    root = await fetchManifest(src, srcRepo, srcInfo.digest)
    kind = artifactKind(root.parsed)
    if (!req.types.includes(kind)) {
      return {
        status: 'excluded',
        digest: srcInfo.digest,
        mediaType: srcInfo.mediaType,
        kind,
        reason: `type ${kind} is not in types [${req.types.join(', ')}]`,
        blobs,
        manifests: 0,
      }
    }
  }

  const existing = await dst.headManifest(dstRepo, dstTag ?? srcInfo.digest)
  if (existing && existing.digest === srcInfo.digest) {
    return {
      status: 'skipped',
      digest: srcInfo.digest,
      mediaType: srcInfo.mediaType,
      kind,
      reason: 'same digest',
      blobs,
      manifests: 0,
    }
  }
  if (existing && !req.override) {
    throw new ImgsyncError(
      'IMAGE_EXISTS',
      `${dst.name}/${dstRepo}:${dstTag} already exists with a different digest (${short(existing.digest)}…, source ${short(srcInfo.digest)}…)`,
      { suggestions: ['pass --override (or override: true in the rule) to replace it'] },
    )
  }
  if (req.dryRun) {
    return {
      status: 'planned',
      digest: srcInfo.digest,
      mediaType: srcInfo.mediaType,
      kind,
      reason: existing ? 'would replace (override)' : 'would copy',
      blobs,
      manifests: 0,
    }
  }

  root ??= await fetchManifest(src, srcRepo, srcInfo.digest)
  const walker = new GraphCopy(req, deps, blobs)
  await walker.copyTree(root.parsed)
  const pushed = await dst.putManifest(
    dstRepo,
    dstTag ?? srcInfo.digest,
    root.manifest.bytes,
    root.parsed.mediaType,
  )
  if (pushed.digest !== srcInfo.digest) {
    throw new ImgsyncError(
      'DIGEST_MISMATCH',
      `${dst.name}: stored ${dstRepo} as ${short(pushed.digest)}…, expected ${short(srcInfo.digest)}…`,
    )
  }
  return {
    status: 'synced',
    digest: srcInfo.digest,
    mediaType: root.parsed.mediaType,
    kind: kind ?? artifactKind(root.parsed),
    blobs,
    manifests: walker.manifests + 1,
  }
}

async function fetchManifest(src: RegistryApi, repo: string, digest: string) {
  const manifest = await src.getManifest(repo, digest)
  let parsed: ParsedManifest
  try {
    parsed = parseManifest(manifest.bytes, manifest.mediaType)
  } catch (err) {
    throw new ImgsyncError(
      'UNSUPPORTED_MEDIA_TYPE',
      `${src.name}: ${repo}@${short(digest)}…: ${(err as Error).message}`,
    )
  }
  if (isSchema1(parsed.mediaType)) {
    throw new ImgsyncError(
      'UNSUPPORTED_MEDIA_TYPE',
      `${src.name}: ${repo}@${short(digest)}… is a Docker schema 1 manifest`,
      {
        suggestions: [
          'schema 1 binds the repository name into its signature; re-push the image with a current client',
        ],
      },
    )
  }
  return { manifest, parsed }
}

/** The walk below the root: children before parents, a subtree the target already has is skipped. */
class GraphCopy {
  manifests = 0
  constructor(
    private readonly req: CopyRequest,
    private readonly deps: CopyDeps,
    private readonly blobs: BlobStats,
  ) {}

  async copyTree(parsed: ParsedManifest): Promise<void> {
    if (isIndexType(parsed.mediaType)) {
      await settleAll(parsed.manifests.map((child) => this.copyChild(child)))
      return
    }
    const { src, srcRepo, dst, dstRepo } = this.req
    await settleAll(
      blobDescriptors(parsed).map((d) => this.deps.blobs.copy(src, srcRepo, dst, dstRepo, d, this.blobs)),
    )
  }

  private async copyChild(child: Descriptor): Promise<void> {
    const { src, srcRepo, dst, dstRepo } = this.req
    // a manifest the registry already holds had its blobs and children checked when it was pushed
    if (await dst.headManifest(dstRepo, child.digest)) return
    const { manifest, parsed } = await fetchManifest(src, srcRepo, child.digest)
    await this.copyTree(parsed)
    await dst.putManifest(dstRepo, child.digest, manifest.bytes, parsed.mediaType || child.mediaType)
    this.manifests++
  }
}

/** Waits for every transfer before failing, so none is still running after its item is recorded. */
async function settleAll(work: Promise<void>[]): Promise<void> {
  const results = await Promise.allSettled(work)
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) throw failed.reason
}
