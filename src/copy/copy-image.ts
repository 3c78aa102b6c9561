import { ImgsyncError } from '../errors.js'
import { log } from '../log.js'
import type { Manifest, ManifestInfo, RegistryApi } from '../registry/api.js'
import { sha256Digest } from '../registry/digest.js'
import { LIMITS } from '../registry/limits.js'
import {
  type ArtifactKind,
  artifactKind,
  blobDescriptors,
  type Descriptor,
  isIndexType,
  isSchema1,
  type ParsedManifest,
  type Platform,
  parseManifest,
} from '../registry/media-types.js'
import { formatBytes } from '../text.js'
import { type BlobCopier, type BlobStats, emptyBlobStats } from './blob-copier.js'
import { filterIndex } from './platforms.js'
import { type ReferrerFinder, updateFallbackIndex } from './referrers.js'
import type { TargetTags } from './tag-cache.js'

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
  /** copy signatures, SBOMs and attestations of the image too */
  referrers?: boolean
  /** copy only these platforms of an index (this changes the index digest) */
  platforms?: Platform[]
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
  /** referrers and cosign tags copied or already present */
  referrers: number
  /** the source digest, when a platform subset gave the target a different one */
  sourceDigest?: string
}

export interface CopyDeps {
  blobs: BlobCopier
  referrers: ReferrerFinder
  /** digests of target tags from earlier runs (default: ask the target every time) */
  targetTags?: TargetTags
  /** whether the task copies enough into this target repository to list its tags once */
  listTargetTags?: (dst: RegistryApi, repo: string) => boolean
  /** manifests copied (or being copied) in this task, so a digest is copied once per task */
  copied?: Map<string, Promise<void>>
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
  const tags = rememberedTags(dst, deps)
  const remembered = dstTag ? tags?.known(dst.name, dstRepo, dstTag) : undefined
  // while the source is asked: with a remembered digest, the repository's tag list (one per task)
  // that may confirm it; otherwise the target tag itself (unless a `types` filter makes it unneeded)
  const listed = remembered ? targetTagList(req, deps) : undefined
  const targetHead = dstTag && !listed && !req.types ? dst.headManifest(dstRepo, dstTag) : undefined
  targetHead?.catch(() => {}) // awaited below; a failing source must not leave it unhandled
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
  const outcome = (status: CopyStatus, digest: string, mediaType: string, reason?: string): CopyOutcome => ({
    status,
    digest,
    mediaType,
    ...(kind !== undefined && { kind }),
    ...(reason !== undefined && { reason }),
    blobs,
    manifests: 0,
    referrers: 0,
  })
  if (req.types) {
    root = await fetchManifest(src, srcRepo, srcInfo.digest)
    kind = artifactKind(root.parsed)
    if (!req.types.includes(kind)) {
      return outcome(
        'excluded',
        srcInfo.digest,
        srcInfo.mediaType,
        `type ${kind} is not in types [${req.types.join(', ')}]`,
      )
    }
  }

  // a platform subset is a new index: its digest, not the source's, is what the target should hold
  let pushBytes: Buffer | undefined
  let want = srcInfo.digest
  if (req.platforms && isIndexType(srcInfo.mediaType)) {
    root ??= await fetchManifest(src, srcRepo, srcInfo.digest)
    const subset = filterIndex(root.manifest.bytes, req.platforms, `${src.name}/${srcRepo}:${srcRef}`)
    if (subset.bytes !== root.manifest.bytes) {
      pushBytes = subset.bytes
      want = sha256Digest(subset.bytes)
      root = { manifest: root.manifest, parsed: parseManifest(subset.bytes, root.manifest.mediaType) }
    }
  }
  const sourceDigest = want === srcInfo.digest ? undefined : srcInfo.digest

  const walker = new GraphCopy(req, deps, blobs)
  let existing: TargetTagInfo
  if (!dstTag) existing = await dst.headManifest(dstRepo, want)
  else if (remembered === want && (await listed)?.has(dstTag)) {
    // a remembered digest is only trusted to confirm a match; anything else is asked for
    existing = { digest: want, mediaType: srcInfo.mediaType, size: srcInfo.size, remembered: true }
  } else {
    existing = await (targetHead ?? dst.headManifest(dstRepo, dstTag))
    // what the target was seen to hold, whatever it is, replaces what was remembered
    if (existing && !req.dryRun) tags?.remember(dst.name, dstRepo, dstTag, existing.digest)
  }
  if (existing && existing.digest === want) {
    const reason = existing.remembered ? 'same digest (checked earlier)' : 'same digest'
    const out = outcome('skipped', want, srcInfo.mediaType, reason)
    if (req.referrers && !req.dryRun) out.referrers = await walker.copyReferrers(srcInfo.digest, new Set())
    return { ...out, ...(sourceDigest && { sourceDigest }) }
  }
  if (existing && !req.override) {
    throw new ImgsyncError(
      'IMAGE_EXISTS',
      `${dst.name}/${dstRepo}:${dstTag} already exists with a different digest (${short(existing.digest)}…, source ${short(want)}…)`,
      { suggestions: ['pass --override (or override: true in the rule) to replace it'] },
    )
  }
  if (req.dryRun) {
    return outcome('planned', want, srcInfo.mediaType, existing ? 'would replace (override)' : 'would copy')
  }

  root ??= await fetchManifest(src, srcRepo, srcInfo.digest)
  await walker.copyTree(root.parsed)
  const pushed = await dst.putManifest(
    dstRepo,
    dstTag ?? want,
    pushBytes ?? root.manifest.bytes,
    root.parsed.mediaType,
  )
  if (pushed.digest !== want) {
    throw new ImgsyncError(
      'DIGEST_MISMATCH',
      `${dst.name}: stored ${dstRepo} as ${short(pushed.digest)}…, expected ${short(want)}…`,
    )
  }
  if (dstTag) {
    deps.referrers.noteTag(dst, dstRepo, dstTag)
    tags?.remember(dst.name, dstRepo, dstTag, want)
  }
  const referrers = req.referrers ? await walker.copyReferrers(srcInfo.digest, new Set()) : 0
  return {
    status: 'synced',
    digest: want,
    mediaType: root.parsed.mediaType,
    kind: kind ?? artifactKind(root.parsed),
    blobs,
    manifests: walker.manifests + 1,
    referrers,
    ...(sourceDigest && { sourceDigest }),
  }
}

type TargetTagInfo = (ManifestInfo & { remembered?: true }) | undefined

/** Remembered target tags, where the target allows it (a layout directory can be swapped whole). */
function rememberedTags(dst: RegistryApi, deps: CopyDeps): TargetTags | undefined {
  return dst.capabilities.rememberTags ? deps.targetTags : undefined
}

/**
 * The target repository's tags (one list per repository per task, never rejecting), when the task
 * has several items there; for a single item one HEAD is cheaper than a list.
 */
function targetTagList(req: CopyRequest, deps: CopyDeps): Promise<Set<string> | undefined> | undefined {
  if (!deps.listTargetTags?.(req.dst, req.dstRepo)) return undefined
  return deps.referrers.listedTags(req.dst, req.dstRepo)
}

async function fetchManifest(src: RegistryApi, repo: string, digest: string) {
  const manifest = await src.getManifest(repo, digest)
  const parsed = parseManifest(manifest.bytes, manifest.mediaType, `${src.name}: ${repo}@${short(digest)}…`)
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

function limitError(what: string, limit: number): ImgsyncError {
  return new ImgsyncError('LIMIT_EXCEEDED', `${what} (limit ${limit})`, {
    suggestions: ['the source serves a graph no image has; it is not copied'],
  })
}

/**
 * The walk below the root: children before parents, a subtree the target already has is skipped.
 * Bounded: index depth, children per index, referrer depth and count (LIMITS); a manifest is copied
 * once per task however often it is listed.
 */
class GraphCopy {
  manifests = 0
  private readonly copied: Map<string, Promise<void>>
  constructor(
    private readonly req: CopyRequest,
    private readonly deps: CopyDeps,
    private readonly blobs: BlobStats,
  ) {
    this.copied = deps.copied ?? new Map()
  }

  private get where(): string {
    return `${this.req.src.name}: ${this.req.srcRepo}`
  }

  /** `depth`: how many indexes lie above `parsed` (0 for an image's root). */
  async copyTree(parsed: ParsedManifest, depth = 0): Promise<void> {
    if (isIndexType(parsed.mediaType)) {
      if (depth >= LIMITS.indexDepth)
        throw limitError(`${this.where}: indexes nested too deep`, LIMITS.indexDepth)
      if (parsed.manifests.length > LIMITS.indexChildren) {
        throw limitError(
          `${this.where}: an index lists ${parsed.manifests.length} manifests`,
          LIMITS.indexChildren,
        )
      }
      await settleAll(parsed.manifests.map((child) => this.copyChild(child, depth + 1)))
      return
    }
    const { src, srcRepo, dst, dstRepo } = this.req
    const blobs = blobDescriptors(parsed)
    const huge = blobs.find((d) => d.size > LIMITS.blobBytes)
    if (huge) {
      throw limitError(
        `${this.where}: blob ${short(huge.digest)}… declares ${formatBytes(huge.size)}, more than ${formatBytes(LIMITS.blobBytes)}`,
        LIMITS.blobBytes,
      )
    }
    await settleAll(blobs.map((d) => this.deps.blobs.copy(src, srcRepo, dst, dstRepo, d, this.blobs)))
  }

  /**
   * Copies what refers to `subject` (signatures, SBOMs, attestations; recursively, a signature of an
   * SBOM too) and keeps the target's fallback index complete when the target has no referrers API.
   * A listed referrer whose own `subject` is another manifest is not one of these: it is left out.
   */
  async copyReferrers(subject: string, seen: Set<string>, depth = 1): Promise<number> {
    const { src, srcRepo, dst, dstRepo } = this.req
    if (depth > LIMITS.referrerDepth)
      throw limitError(`${this.where}: referrers nested too deep`, LIMITS.referrerDepth)
    const found = await this.deps.referrers.find(src, srcRepo, subject)
    if (found.manifests.length > LIMITS.referrersPerManifest) {
      throw limitError(
        `${this.where}: ${found.manifests.length} referrers listed for ${short(subject)}…`,
        LIMITS.referrersPerManifest,
      )
    }
    let count = 0
    let handled = false
    const present: Descriptor[] = []
    const checked = new Set<string>()
    for (const d of found.manifests) {
      if (seen.has(d.digest)) continue
      seen.add(d.digest)
      if (!(await dst.headManifest(dstRepo, d.digest))) {
        const { manifest, parsed } = await fetchManifest(src, srcRepo, d.digest)
        if (parsed.subject?.digest !== subject) {
          log.debug(
            `${this.where}: ${short(d.digest)}… is listed as a referrer of ${short(subject)}… but is not`,
          )
          continue
        }
        checked.add(d.digest)
        await this.copyTree(parsed)
        const put = await dst.putManifest(dstRepo, d.digest, manifest.bytes, parsed.mediaType || d.mediaType)
        handled ||= put.subjectHandled
        this.manifests++
      }
      present.push(d)
      count += 1 + (await this.copyReferrers(d.digest, seen, depth + 1))
    }
    if (present.length > 0 && !handled && !(await this.deps.referrers.hasApi(dst, dstRepo, subject))) {
      // a referrer the target already held was not read here: confirm its subject before indexing it
      const confirm = async (d: Descriptor) =>
        checked.has(d.digest) ||
        (await fetchManifest(src, srcRepo, d.digest)).parsed.subject?.digest === subject
      await updateFallbackIndex(dst, dstRepo, subject, present, found.fallbackIndex, confirm)
    }
    for (const tag of found.cosignTags) {
      if (seen.has(tag)) continue
      seen.add(tag)
      // cosign rewrites these tags as signatures are added, so the target follows the source
      await copyImage(
        {
          ...this.req,
          srcRef: tag,
          dstTag: tag,
          override: true,
          referrers: false,
          types: undefined,
          platforms: undefined,
        },
        this.deps,
      )
      count++
    }
    return count
  }

  /** A child manifest of an index, once per task whichever index lists it (and however often). */
  private copyChild(child: Descriptor, depth: number): Promise<void> {
    const key = `${this.req.dst.name}\n${this.req.dstRepo}\n${child.digest}`
    let done = this.copied.get(key)
    if (!done) {
      done = this.copyChildOnce(child, depth)
      this.copied.set(key, done)
      // a failure is for the items that wait on it; a later item tries again
      done.catch(() => this.copied.delete(key))
    }
    return done
  }

  private async copyChildOnce(child: Descriptor, depth: number): Promise<void> {
    const { src, srcRepo, dst, dstRepo } = this.req
    // a manifest the registry already holds had its blobs and children checked when it was pushed
    if (await dst.headManifest(dstRepo, child.digest)) return
    const { manifest, parsed } = await fetchManifest(src, srcRepo, child.digest)
    await this.copyTree(parsed, depth)
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
