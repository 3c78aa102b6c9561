import type { LimitFunction } from 'p-limit'
import { ImgsyncError } from '../errors.js'
import type { Manifest, ManifestInfo, RegistryApi } from '../registry/api.js'
import { sha256Digest } from '../registry/digest.js'
import {
  type ArtifactKind,
  artifactKind,
  isIndexType,
  type ParsedManifest,
  type Platform,
  parseManifest,
} from '../registry/media-types.js'
import type { BlobCopier } from './blob-copier.js'
import { type BlobStats, emptyBlobStats } from './blob-job.js'
import { fetchManifest, GraphCopy, short } from './graph-copy.js'
import { filterIndex } from './platforms.js'
import type { ReferrerFinder } from './referrers.js'
import type { TargetTags } from './tag-cache.js'

/** Which image goes where: the source by tag or digest, the target repository and tag. */
export interface ImageRoute {
  src: RegistryApi
  srcRepo: string
  /** a tag or a digest */
  srcRef: string
  dst: RegistryApi
  dstRepo: string
  /** the target tag; undefined pushes by digest only */
  dstTag?: string
}

export interface CopyRequest extends ImageRoute {
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
  /**
   * images being copied at once (--concurrency): an image takes a turn once it is known to need a
   * copy; checking what the source and target hold (HEADs, lists) takes none
   */
  imageSlots?: LimitFunction
}

/** What the target should end up holding, from the source root and the request's filters. */
interface Wanted {
  srcInfo: ManifestInfo
  /** the digest the target should hold: the source's, or a platform subset's */
  digest: string
  root?: { manifest: Manifest; parsed: ParsedManifest }
  kind?: ArtifactKind
  /** the bytes to push when they differ from the source's (a platform subset) */
  pushBytes?: Buffer
  /** why the image is left out (the `types` filter) */
  excluded?: string
}

/**
 * Copies one image (or index, chart, artifact) from src to dst, digest-preserving. Order keeps the
 * target consistent: blobs, then child manifests by digest, then the root under its tag, so a tag
 * never points at an incomplete image.
 */
export async function copyImage(req: CopyRequest, deps: CopyDeps): Promise<CopyOutcome> {
  const lookup = await startTargetLookup(req, deps)
  const slot = <T>(fn: () => Promise<T>): Promise<T> => (deps.imageSlots ? deps.imageSlots(fn) : fn())
  // a tag the target lacks is a copy from the start: it reads nothing before its turn
  if (lookup.absent && !req.dryRun) return slot(() => resolveAndCopy(req, deps, lookup, (fn) => fn()))
  return resolveAndCopy(req, deps, lookup, slot)
}

/** Checks what the source and the target hold, then copies in a turn of `slot` when needed. */
async function resolveAndCopy(
  req: CopyRequest,
  deps: CopyDeps,
  lookup: TargetLookup,
  slot: <T>(fn: () => Promise<T>) => Promise<T>,
): Promise<CopyOutcome> {
  const wanted = await wantedRoot(req, await sourceRoot(req, lookup.absent))
  const { srcInfo, digest: want } = wanted
  const blobs = emptyBlobStats()
  const outcome = (status: CopyStatus, reason: string): CopyOutcome => ({
    status,
    digest: want,
    mediaType: srcInfo.mediaType,
    ...(wanted.kind !== undefined && { kind: wanted.kind }),
    reason,
    blobs,
    manifests: 0,
    referrers: 0,
  })
  if (wanted.excluded) return outcome('excluded', wanted.excluded)
  if (req.referrers && !req.dryRun) deps.referrers.prefetch(req.src, req.srcRepo, srcInfo.digest)
  const sourceDigest = want === srcInfo.digest ? undefined : srcInfo.digest
  const walker = new GraphCopy(req, deps, blobs, copyImage)
  const existing = await targetState(req, lookup, wanted)
  if (existing && existing.digest === want) {
    const out = outcome('skipped', existing.remembered ? 'same digest (checked earlier)' : 'same digest')
    if (req.referrers && !req.dryRun) out.referrers = await walker.copyReferrers(srcInfo.digest, new Set())
    return { ...out, ...(sourceDigest && { sourceDigest }) }
  }
  if (existing && !req.override) {
    throw new ImgsyncError(
      'IMAGE_EXISTS',
      `${req.dst.name}/${req.dstRepo}:${req.dstTag} already exists with a different digest (${short(existing.digest)}…, source ${short(want)}…)`,
      { suggestions: ['pass --override (or override: true in the rule) to replace it'] },
    )
  }
  if (req.dryRun) return outcome('planned', existing ? 'would replace (override)' : 'would copy')
  const { root, referrers } = await slot(async () => {
    const root = await pushImage(req, deps, walker, wanted, lookup.tags)
    return { root, referrers: req.referrers ? await walker.copyReferrers(srcInfo.digest, new Set()) : 0 }
  })
  return {
    status: 'synced',
    digest: want,
    mediaType: root.parsed.mediaType,
    kind: wanted.kind ?? artifactKind(root.parsed),
    blobs,
    manifests: walker.manifests + 1,
    referrers,
    ...(sourceDigest && { sourceDigest }),
  }
}

/** What is known of the target tag before the source is asked. */
interface TargetLookup {
  tags?: TargetTags
  remembered?: string
  /** the target repository's tags, where the task lists them (several items go there) */
  listed?: Promise<Set<string> | undefined>
  /** the listing shows no such tag: nothing to ask, and the source manifest is read whole at once */
  absent: boolean
  /** the target tag, asked while the source is */
  head?: Promise<ManifestInfo | undefined>
}

/**
 * The target repository's tag list where the task lists it (one per repository per task, shared by
 * its items); then a tag not listed is absent, and a listed one with a remembered digest needs no
 * HEAD. A tag not remembered waits for the list (a cold sync: it tells the source to send the
 * manifest at once); a remembered one, likely there, asks the source alongside it. Otherwise the
 * target tag itself is asked while the source is (unless a `types` filter may make it unneeded).
 */
async function startTargetLookup(req: CopyRequest, deps: CopyDeps): Promise<TargetLookup> {
  const { dst, dstRepo, dstTag } = req
  const tags = rememberedTags(dst, deps)
  const remembered = dstTag ? tags?.known(dst.name, dstRepo, dstTag) : undefined
  const listed = dstTag ? targetTagList(req, deps) : undefined
  const seen = listed && remembered === undefined ? await listed : undefined
  const absent = seen !== undefined && dstTag !== undefined && !seen.has(dstTag)
  const trusted = remembered !== undefined && listed !== undefined
  const head = dstTag && !absent && !trusted && !req.types ? dst.headManifest(dstRepo, dstTag) : undefined
  head?.catch(() => {}) // awaited later; a failing source must not leave it unhandled
  return { tags, remembered, listed, absent, head }
}

/** What the source holds under the reference: a HEAD, or, when the target lacks the tag, the manifest itself. */
interface SourceRoot {
  info: ManifestInfo
  root?: { manifest: Manifest; parsed: ParsedManifest }
}

/**
 * The source manifest's digest (HEAD); when the target is known to lack the tag the manifest is
 * needed anyway, so it is read at once (one GET, not a HEAD and then a GET). A dry run only looks.
 */
async function sourceRoot(req: CopyRequest, absent: boolean): Promise<SourceRoot> {
  const { src, srcRepo, srcRef } = req
  if (!absent || req.dryRun) {
    const info = await src.headManifest(srcRepo, srcRef)
    if (!info) throw sourceMissing(req)
    return { info }
  }
  try {
    const root = await fetchManifest(src, srcRepo, srcRef)
    const { digest, mediaType, size } = root.manifest
    return { info: { digest, mediaType, size }, root }
  } catch (err) {
    throw err instanceof ImgsyncError && err.code === 'NOT_FOUND' ? sourceMissing(req) : err
  }
}

function sourceMissing(req: CopyRequest): ImgsyncError {
  const { src, srcRepo, srcRef } = req
  return new ImgsyncError(
    'NOT_FOUND',
    `${src.name}: ${srcRepo}${srcRef.includes(':') ? '@' : ':'}${srcRef} not found`,
    {
      suggestions: ['check the repository and tag at the source'],
    },
  )
}

/** The root to copy after the `types` filter and the platform subset (a new index, a new digest). */
async function wantedRoot(req: CopyRequest, source: SourceRoot): Promise<Wanted> {
  const { src, srcRepo, srcRef } = req
  const srcInfo = source.info
  const wanted: Wanted = { srcInfo, digest: srcInfo.digest, root: source.root }
  if (req.types) {
    wanted.root ??= await fetchManifest(src, srcRepo, srcInfo.digest)
    wanted.kind = artifactKind(wanted.root.parsed)
    if (!req.types.includes(wanted.kind)) {
      wanted.excluded = `type ${wanted.kind} is not in types [${req.types.join(', ')}]`
      return wanted
    }
  }
  if (req.platforms && isIndexType(srcInfo.mediaType)) {
    const root = wanted.root ?? (await fetchManifest(src, srcRepo, srcInfo.digest))
    wanted.root = root
    const subset = filterIndex(root.manifest.bytes, req.platforms, `${src.name}/${srcRepo}:${srcRef}`)
    if (subset.bytes !== root.manifest.bytes) {
      wanted.pushBytes = subset.bytes
      wanted.digest = sha256Digest(subset.bytes)
      wanted.root = { manifest: root.manifest, parsed: parseManifest(subset.bytes, root.manifest.mediaType) }
    }
  }
  return wanted
}

/** What the target holds where the image goes; a remembered digest only ever confirms a match. */
async function targetState(req: CopyRequest, lookup: TargetLookup, wanted: Wanted): Promise<TargetTagInfo> {
  const { dst, dstRepo, dstTag } = req
  if (!dstTag) return dst.headManifest(dstRepo, wanted.digest)
  if (lookup.absent) return undefined
  if (lookup.remembered === wanted.digest && (await lookup.listed)?.has(dstTag)) {
    const { mediaType, size } = wanted.srcInfo
    return { digest: wanted.digest, mediaType, size, remembered: true }
  }
  const existing = await (lookup.head ?? dst.headManifest(dstRepo, dstTag))
  // what the target was seen to hold, whatever it is, replaces what was remembered
  if (existing && !req.dryRun) lookup.tags?.remember(dst.name, dstRepo, dstTag, existing.digest)
  return existing
}

/** Blobs and children first, then the root under its tag (or digest); checks what the target stored. */
async function pushImage(
  req: CopyRequest,
  deps: CopyDeps,
  walker: GraphCopy,
  wanted: Wanted,
  tags: TargetTags | undefined,
): Promise<{ manifest: Manifest; parsed: ParsedManifest }> {
  const { src, srcRepo, dst, dstRepo, dstTag } = req
  const root = wanted.root ?? (await fetchManifest(src, srcRepo, wanted.srcInfo.digest))
  await walker.copyTree(root.parsed)
  const bytes = wanted.pushBytes ?? root.manifest.bytes
  const pushed = await dst.putManifest(dstRepo, dstTag ?? wanted.digest, bytes, root.parsed.mediaType)
  if (pushed.digest !== wanted.digest) {
    throw new ImgsyncError(
      'DIGEST_MISMATCH',
      `${dst.name}: stored ${dstRepo} as ${short(pushed.digest)}…, expected ${short(wanted.digest)}…`,
    )
  }
  if (dstTag) {
    deps.referrers.noteTag(dst, dstRepo, dstTag)
    tags?.remember(dst.name, dstRepo, dstTag, wanted.digest)
  }
  return root
}

type TargetTagInfo = (ManifestInfo & { remembered?: true }) | undefined

/** Remembered target tags, where the target allows it (a layout directory can be swapped whole). */
function rememberedTags(dst: RegistryApi, deps: CopyDeps): TargetTags | undefined {
  return dst.capabilities.rememberTags ? deps.targetTags : undefined
}

/**
 * The target repository's tags (one list per repository per task, never rejecting; none when the
 * repository does not exist yet), when the task has several items there; for a single item one
 * HEAD is cheaper than a list.
 */
function targetTagList(req: CopyRequest, deps: CopyDeps): Promise<Set<string> | undefined> | undefined {
  if (!deps.listTargetTags?.(req.dst, req.dstRepo)) return undefined
  return deps.referrers.listedTags(req.dst, req.dstRepo)
}
