// The walk below an image's root: children before parents, a subtree the target already has is
// skipped, referrers copied after their subject. Bounded (LIMITS): index depth and width, referrer
// depth and count; a manifest is copied once per task however often indexes list it.
import { ImgsyncError } from '../errors.js'
import { log } from '../log.js'
import type { RegistryApi } from '../registry/api.js'
import { LIMITS } from '../registry/limits.js'
import {
  blobDescriptors,
  type Descriptor,
  isIndexType,
  isSchema1,
  type ParsedManifest,
  parseManifest,
} from '../registry/media-types.js'
import { formatBytes } from '../text.js'
import type { BlobStats } from './blob-job.js'
import type { CopyDeps, CopyOutcome, CopyRequest } from './copy-image.js'
import { updateFallbackIndex } from './referrers.js'

export function short(digest: string): string {
  return digest.slice(0, 19)
}

export async function fetchManifest(src: RegistryApi, repo: string, digest: string) {
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
export class GraphCopy {
  manifests = 0
  private readonly copied: Map<string, Promise<void>>
  /** `copyTagged` copies a tag the way copyImage does (cosign's signature tags) */
  constructor(
    private readonly req: CopyRequest,
    private readonly deps: CopyDeps,
    private readonly blobs: BlobStats,
    private readonly copyTagged: (req: CopyRequest, deps: CopyDeps) => Promise<CopyOutcome>,
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
    const newRepo = this.deps.referrers.isNew(dst, dstRepo)
    await settleAll(
      blobs.map((desc) =>
        this.deps.blobs.copy({ src, srcRepo, dst, dstRepo, desc, stats: this.blobs, newRepo }),
      ),
    )
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
      // cosign rewrites these tags as signatures are added, so the target follows the source; it
      // is part of this image's copy, in its turn (no turn of its own: that could wait for ever)
      await this.copyTagged(
        {
          ...this.req,
          srcRef: tag,
          dstTag: tag,
          override: true,
          referrers: false,
          types: undefined,
          platforms: undefined,
        },
        { ...this.deps, imageSlots: undefined },
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
    // a manifest the registry already holds had its blobs and children checked when it was pushed;
    // a repository new in this task holds only what the task put there (`copied` knows that)
    const fresh = this.deps.referrers.isNew(dst, dstRepo)
    if (!fresh && (await dst.headManifest(dstRepo, child.digest))) return
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
