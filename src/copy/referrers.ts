import { ImgsyncError } from '../errors.js'
import type { Manifest, RegistryApi } from '../registry/api.js'
import { type Descriptor, isIndexType, MediaTypes, parseManifest } from '../registry/media-types.js'

// Finding referrers (signatures, SBOMs, attestations) of a manifest, and keeping the target's
// tag-schema fallback index complete when the target has no referrers API.

const COSIGN_SUFFIXES = ['sig', 'att', 'sbom'] as const
const REFERRER_TAG = /^(sha256|sha512)-[a-f0-9]{64,128}(\.(sig|att|sbom))?$/

/** `sha256:abc…` → `sha256-abc…`, the OCI referrers tag schema. */
export function fallbackTag(digest: string): string {
  const [alg, hex] = digest.split(':')
  return `${alg!.slice(0, 32)}-${hex!.slice(0, 64)}`
}

/** Tags that exist only to attach things to another manifest: copied with their subject. */
export function isReferrerTag(tag: string): boolean {
  return REFERRER_TAG.test(tag)
}

export interface FoundReferrers {
  /** referrer manifests (descriptors as the source lists them) */
  manifests: Descriptor[]
  /** the source's fallback index, when that is where they were found (copied as is if possible) */
  fallbackIndex?: Manifest
  /** cosign's legacy tags for the subject: sha256-<hex>.sig / .att / .sbom */
  cosignTags: string[]
}

/**
 * Per-task discovery with caches: whether a registry has the referrers API (a 404 means it does
 * not, per the distribution spec, so later lookups go straight to tags), and each repository's
 * tag list (source and target), so a no-op re-sync costs no extra request per image.
 */
export class ReferrerFinder {
  private readonly noApi = new Set<string>()
  /** the first referrers lookup per registry, until it has answered */
  private readonly probes = new Map<string, Promise<void>>()
  private readonly tagLists = new Map<string, Promise<Set<string>>>()
  /** target repositories whose listing said they do not exist */
  private readonly newRepos = new Set<string>()
  /** lookups started before the copy asks for them (prefetch), until it does */
  private readonly early = new Map<string, Promise<FoundReferrers>>()

  tags(api: RegistryApi, repo: string): Promise<Set<string>> {
    const key = `${api.name}\n${repo}`
    let tags = this.tagLists.get(key)
    if (!tags) {
      tags = api.listTags(repo).then((t) => new Set(t))
      this.tagLists.set(key, tags)
    }
    return tags
  }

  /**
   * A target repository's tags: none where the repository does not exist yet (the registry says
   * NOT_FOUND; then `isNew` says so too), undefined when they cannot be listed.
   */
  listedTags(api: RegistryApi, repo: string): Promise<Set<string> | undefined> {
    const key = `${api.name}\n${repo}`
    let tags = this.tagLists.get(key)
    if (!tags) {
      tags = api.listTags(repo).then(
        (t) => new Set(t),
        (err: unknown) => {
          if (!(err instanceof ImgsyncError && err.code === 'NOT_FOUND')) throw err
          this.newRepos.add(key)
          return new Set<string>()
        },
      )
      this.tagLists.set(key, tags)
    }
    return tags.catch(() => undefined)
  }

  /** Whether listing found that the repository did not exist when this task began. */
  isNew(api: RegistryApi, repo: string): boolean {
    return this.newRepos.has(`${api.name}\n${repo}`)
  }

  /** Hands over a tag list the planner already fetched, so it is not asked for again. */
  seed(api: RegistryApi, repo: string, tags: string[]): void {
    const key = `${api.name}\n${repo}`
    if (!this.tagLists.has(key)) this.tagLists.set(key, Promise.resolve(new Set(tags)))
  }

  /** Records a tag this task pushed, so later lookups in the same task see it. */
  noteTag(api: RegistryApi, repo: string, tag: string): void {
    this.tagLists.get(`${api.name}\n${repo}`)?.then(
      (t) => t.add(tag),
      () => {}, // the listing failed: there is no list to add to
    )
  }

  async hasApi(api: RegistryApi, repo: string, digest: string): Promise<boolean> {
    return (await this.listed(api, repo, digest)) !== undefined
  }

  /**
   * The referrers API's answer, or undefined where the registry has no such API (remembered). The
   * first lookup at a registry is the probe: lookups that come while it runs wait for its answer,
   * so a registry without the API is asked once, not once per image in flight.
   */
  private async listed(api: RegistryApi, repo: string, digest: string): Promise<Descriptor[] | undefined> {
    const probe = this.probes.get(api.name)
    if (probe) await probe
    if (this.noApi.has(api.name)) return undefined
    const asked = api.referrers(repo, digest)
    if (!probe) {
      this.probes.set(
        api.name,
        asked.then(
          () => undefined,
          // a failed probe proves nothing: the next lookup asks again and becomes the probe
          () => {
            this.probes.delete(api.name)
          },
        ),
      )
    }
    const found = await asked
    if (found === undefined) this.noApi.add(api.name)
    return found
  }

  /**
   * Starts looking up `digest`'s referrers now, for the copy that asks `find` later: what the
   * source holds does not depend on what the copy pushes, and on a far link the lookup's round
   * trips then run beside the copy's instead of after them.
   */
  prefetch(api: RegistryApi, repo: string, digest: string): void {
    const key = `${api.name}\n${repo}\n${digest}`
    if (this.early.has(key)) return
    const found = this.lookup(api, repo, digest)
    found.catch(() => {}) // seen by find, which rethrows it where the copy expects it
    this.early.set(key, found)
  }

  find(api: RegistryApi, repo: string, digest: string): Promise<FoundReferrers> {
    const key = `${api.name}\n${repo}\n${digest}`
    const early = this.early.get(key)
    if (!early) return this.lookup(api, repo, digest)
    this.early.delete(key)
    return early
  }

  private async lookup(api: RegistryApi, repo: string, digest: string): Promise<FoundReferrers> {
    // the tag list is needed either way (cosign's tags, the fallback index): asked beside the API
    const listing = this.tags(api, repo)
    listing.catch(() => {}) // awaited below, after the API's answer, whose error comes first
    const listed = await this.listed(api, repo, digest)
    const out: FoundReferrers = { manifests: listed ?? [], cosignTags: [] }
    const tags = await listing
    const ft = fallbackTag(digest)
    if (listed === undefined && tags.has(ft)) {
      const index = await api.getManifest(repo, ft)
      const parsed = parseManifest(index.bytes, index.mediaType)
      if (isIndexType(parsed.mediaType)) {
        out.manifests = parsed.manifests
        out.fallbackIndex = index
      }
    }
    for (const suffix of COSIGN_SUFFIXES)
      if (tags.has(`${ft}.${suffix}`)) out.cosignTags.push(`${ft}.${suffix}`)
    return out
  }
}

/**
 * Makes the target's fallback index for `subject` list `wanted`, keeping whatever it already lists.
 * When the target has none, the source's index is pushed byte for byte (same digest) if it lists
 * exactly `wanted`. A descriptor is added only once `confirm` says it really refers to `subject`.
 * Returns whether anything was pushed.
 */
export async function updateFallbackIndex(
  dst: RegistryApi,
  repo: string,
  subject: string,
  wanted: Descriptor[],
  sourceIndex: Manifest | undefined,
  confirm: (d: Descriptor) => Promise<boolean> = async () => true,
): Promise<boolean> {
  const tag = fallbackTag(subject)
  const current = await dst.headManifest(repo, tag)
  if (current && sourceIndex && current.digest === sourceIndex.digest) return false
  if (!current && sourceIndex) {
    const listed = new Set(
      parseManifest(sourceIndex.bytes, sourceIndex.mediaType).manifests.map((d) => d.digest),
    )
    const exact = listed.size === new Set(wanted.map((d) => d.digest)).size
    if (exact && wanted.every((d) => listed.has(d.digest))) {
      await dst.putManifest(repo, tag, sourceIndex.bytes, sourceIndex.mediaType)
      return true
    }
  }
  let doc: { schemaVersion: number; mediaType: string; manifests: Descriptor[] } = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociIndex,
    manifests: [],
  }
  if (current) {
    const existing = await dst.getManifest(repo, tag)
    const manifests = parseManifest(
      existing.bytes,
      existing.mediaType,
      `${dst.name}: ${repo}:${tag}`,
    ).manifests
    doc = { ...JSON.parse(existing.bytes.toString('utf8')), manifests }
  }
  const have = new Set(doc.manifests.map((d) => d.digest))
  const missing: Descriptor[] = []
  for (const d of wanted) if (!have.has(d.digest) && (await confirm(d))) missing.push(d)
  if (missing.length === 0) return false
  doc.manifests.push(...missing)
  await dst.putManifest(repo, tag, Buffer.from(JSON.stringify(doc)), MediaTypes.ociIndex)
  return true
}
