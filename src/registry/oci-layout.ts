// An OCI image layout directory (image-spec image-layout.md) as a RegistryApi: `oci-layout`,
// `index.json` (tags are org.opencontainers.image.ref.name annotations, as skopeo and umoci write
// them) and content-addressed `blobs/<alg>/<hex>`, where manifests are blobs too.
import { createHash } from 'node:crypto'
import { join, resolve } from 'node:path'
import type { Readable } from 'node:stream'
import { ImgsyncError } from '../errors.js'
import type { Manifest, ManifestInfo, MountResult, PutManifestResult, RegistryApi } from './api.js'
import { BLOBS_DIR, checkLayoutDigest, errnoOf, LayoutFiles, OCI_LAYOUT_FILE } from './layout-files.js'
import { FsLayoutStorage, type LayoutStorage, type StorageEntry } from './layout-storage.js'
import { blobDescriptors, type Descriptor, isIndexType, MediaTypes, parseManifest } from './media-types.js'
import { isValidTag } from './names.js'

export { OCI_LAYOUT_FILE, OCI_LAYOUT_VERSION } from './layout-files.js'

/** `single`: the root is one repository's layout; `multi`: `root/<repo>` is one layout per repository. */
export type OciLayoutMode = 'single' | 'multi'

export interface OciLayoutOptions {
  mode: OciLayoutMode
  /** where the files live (default: the local file system) */
  storage?: LayoutStorage
}

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name'

// one path segment of a repository inside a multi layout: no '.', '..', hidden or odd names
const REPO_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

function isDigestRef(ref: string): boolean {
  return ref.includes(':')
}

function refName(d: Descriptor): string | undefined {
  const name = d.annotations?.[REF_NAME_ANNOTATION]
  return typeof name === 'string' ? name : undefined
}

/** The OCI image layout as a RegistryApi (like regclient's ocidir). */
export class OciLayoutRegistry implements RegistryApi {
  readonly name: string
  /** the resolved root directory */
  readonly root: string
  readonly mode: OciLayoutMode
  /** no mounts or referrers API; never remembered (a directory can be swapped whole); tags can go */
  readonly capabilities = { mount: false, referrersApi: false, rememberTags: false, delete: true } as const
  /** layout directories already checked (or created) in this process */
  private readonly storage: LayoutStorage
  private readonly files: LayoutFiles

  constructor(root: string, opts: OciLayoutOptions) {
    this.root = resolve(root)
    this.mode = opts.mode
    this.name = `oci:${this.root}`
    this.storage = opts.storage ?? new FsLayoutStorage()
    this.files = new LayoutFiles(this.name, this.storage)
  }

  /** The layout directory holding `repo` (the root itself in single mode). */
  layoutDir(repo: string): string {
    if (this.mode === 'single') return this.root
    const segments = repo.split('/')
    if (repo === '' || !segments.every((s) => REPO_SEGMENT.test(s))) {
      throw new ImgsyncError(
        'INVALID_ARGUMENT',
        `${this.name}: ${JSON.stringify(repo)} is not a repository path inside the layout directory`,
        {
          suggestions: ['use names like team-a/app: segments of letters, digits, . _ -, not starting with .'],
        },
      )
    }
    return join(this.root, ...segments)
  }

  // ---- RegistryApi: manifests ----

  async headManifest(repo: string, reference: string): Promise<ManifestInfo | undefined> {
    const dir = this.layoutDir(repo)
    if ((await this.files.state(dir)) === 'absent') return undefined
    if (isDigestRef(reference)) {
      const path = this.files.blobPath(dir, reference)
      const size = await this.files.fileSize(path)
      if (size === undefined) return undefined
      const entry = (await this.files.readIndex(dir)).manifests.find((d) => d.digest === reference)
      const mediaType =
        entry?.mediaType || this.jsonMediaType(await this.files.readManifestBytes(path, reference))
      return { digest: reference, mediaType, size }
    }
    const entry = await this.findTag(dir, reference)
    if (!entry) return undefined
    const size = await this.files.fileSize(this.files.blobPath(dir, entry.digest))
    if (size === undefined) return undefined
    return { digest: entry.digest, mediaType: entry.mediaType, size }
  }

  async getManifest(repo: string, reference: string): Promise<Manifest> {
    const dir = this.layoutDir(repo)
    if ((await this.files.state(dir)) === 'absent') throw this.files.noLayout(dir)
    let digest = reference
    let mediaType: string | undefined
    if (isDigestRef(reference)) {
      this.checkDigest(reference)
      mediaType = (await this.files.readIndex(dir)).manifests.find((d) => d.digest === reference)?.mediaType
    } else {
      const entry = await this.findTag(dir, reference)
      if (!entry) throw this.manifestNotFound(repo, reference)
      digest = entry.digest
      mediaType = entry.mediaType
    }
    const path = this.files.blobPath(dir, digest)
    if ((await this.files.fileSize(path)) === undefined) throw this.manifestNotFound(repo, reference)
    const bytes = await this.files.readManifestBytes(path, digest)
    if (!digestOf(bytes, digest).matches) {
      throw new ImgsyncError(
        'DIGEST_MISMATCH',
        `${this.name}: manifest ${this.where(repo, reference)} (${path}) does not match its digest ${digest}`,
        { suggestions: ['the layout is damaged; export it again'] },
      )
    }
    return { bytes, digest, mediaType: mediaType || this.jsonMediaType(bytes), size: bytes.length }
  }

  async putManifest(
    repo: string,
    reference: string,
    bytes: Buffer,
    mediaType: string,
  ): Promise<PutManifestResult> {
    const dir = this.layoutDir(repo)
    let digest: string
    if (isDigestRef(reference)) {
      this.checkDigest(reference)
      const actual = digestOf(bytes, reference)
      if (!actual.matches) {
        throw new ImgsyncError(
          'DIGEST_MISMATCH',
          `${this.name}: manifest pushed as ${reference} hashes to ${actual.actual}`,
        )
      }
      digest = reference
    } else {
      this.checkTag(reference)
      digest = sha256(bytes)
    }
    let parsed: ReturnType<typeof parseManifest>
    try {
      parsed = parseManifest(bytes, mediaType)
    } catch (err) {
      throw new ImgsyncError(
        'UNSUPPORTED_MEDIA_TYPE',
        `${this.name}: manifest ${this.where(repo, reference)}: ${(err as Error).message}`,
      )
    }
    await this.files.ensureLayout(dir)
    // like a registry: refuse a manifest whose blobs or child manifests the layout does not hold
    const needed = isIndexType(parsed.mediaType) ? parsed.manifests : blobDescriptors(parsed)
    for (const d of needed) {
      this.checkDigest(d.digest)
      if ((await this.files.fileSize(this.files.blobPath(dir, d.digest))) === undefined) {
        throw new ImgsyncError(
          'REGISTRY_ERROR',
          `${this.name}: manifest ${this.where(repo, reference)} references ${d.digest}, which the layout does not hold`,
          { suggestions: ['copy its blobs and child manifests first'] },
        )
      }
    }
    await this.files.writeBlob(dir, digest, bytes)
    if (!isDigestRef(reference)) {
      const desc: Descriptor = {
        mediaType: mediaType || parsed.mediaType || MediaTypes.ociManifest,
        digest,
        size: bytes.length,
        ...(parsed.artifactType !== undefined && { artifactType: parsed.artifactType }),
        annotations: { [REF_NAME_ANNOTATION]: reference },
      }
      await this.files.updateIndex(dir, (index) => {
        // the tag's entry is replaced where it stood (listTags keeps its order); duplicates go
        let placed = false
        index.manifests = index.manifests.flatMap((d) => {
          if (refName(d) !== reference) return [d]
          if (placed) return []
          placed = true
          return [desc]
        })
        if (!placed) index.manifests.push(desc)
        return true
      })
    }
    return { digest, subjectHandled: false }
  }

  /** Removes every index.json entry (tag) for `digest`; the blob stays (other manifests may use it). */
  async deleteManifest(repo: string, digest: string): Promise<void> {
    const dir = this.layoutDir(repo)
    this.checkDigest(digest)
    if ((await this.files.state(dir)) === 'absent') throw this.files.noLayout(dir)
    let removed = 0
    await this.files.updateIndex(dir, (index) => {
      const kept = index.manifests.filter((d) => d.digest !== digest)
      removed = index.manifests.length - kept.length
      index.manifests = kept
      return removed > 0
    })
    if (removed === 0 && (await this.files.fileSize(this.files.blobPath(dir, digest))) === undefined) {
      throw this.manifestNotFound(repo, digest)
    }
  }

  // ---- RegistryApi: blobs ----

  async hasBlob(repo: string, digest: string): Promise<boolean> {
    const dir = this.layoutDir(repo)
    const path = this.files.blobPath(dir, digest)
    if ((await this.files.state(dir)) === 'absent') return false
    return (await this.files.fileSize(path)) !== undefined
  }

  async getBlob(repo: string, desc: Descriptor, offset = 0): Promise<Readable> {
    const dir = this.layoutDir(repo)
    const path = this.files.blobPath(dir, desc.digest)
    if ((await this.files.state(dir)) === 'absent') throw this.files.noLayout(dir)
    try {
      return await this.storage.read(path, offset)
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') {
        throw new ImgsyncError('NOT_FOUND', `${this.name}: blob ${desc.digest} not found (${path})`)
      }
      throw this.files.fsError(err, `read blob ${desc.digest.slice(0, 19)}…`, path)
    }
  }

  async putBlob(repo: string, desc: Descriptor, body: Readable, _session?: string): Promise<void> {
    const dir = this.layoutDir(repo)
    try {
      this.checkDigest(desc.digest)
      await this.files.ensureLayout(dir)
    } catch (err) {
      body.destroy()
      throw err
    }
    await this.files.storeBlob(dir, desc.digest, desc.size, body)
  }

  async mountBlob(_repo: string, _digest: string, _fromRepo: string): Promise<MountResult> {
    return { mounted: false }
  }

  // ---- RegistryApi: listing ----

  /** ref.name annotations that are valid tags, in index.json order (fully qualified names are left out). */
  async listTags(repo: string): Promise<string[]> {
    const dir = this.layoutDir(repo)
    if ((await this.files.state(dir)) === 'absent') throw this.files.noLayout(dir)
    const seen = new Set<string>()
    for (const d of (await this.files.readIndex(dir)).manifests) {
      const name = refName(d)
      if (name !== undefined && isValidTag(name)) seen.add(name)
    }
    return [...seen]
  }

  /** single: [''] when the layout exists; multi: every directory below the root holding an oci-layout file. */
  async listRepositories(): Promise<string[]> {
    if (this.mode === 'single') return (await this.files.state(this.root)) === 'ok' ? [''] : []
    const out: string[] = []
    const walk = async (dir: string, rel: string[]): Promise<void> => {
      let entries: StorageEntry[] | undefined
      try {
        entries = await this.storage.list(dir)
      } catch (err) {
        throw this.files.fsError(err, 'list repositories', dir)
      }
      if (!entries) {
        if (rel.length === 0)
          throw new ImgsyncError('NOT_FOUND', `${this.name}: directory ${dir} does not exist`)
        return
      }
      const isLayout = entries.some((e) => e.name === OCI_LAYOUT_FILE && e.file)
      if (isLayout && rel.length > 0) out.push(rel.join('/'))
      for (const e of entries) {
        if (!e.directory || !REPO_SEGMENT.test(e.name)) continue
        if (isLayout && e.name === BLOBS_DIR) continue
        await walk(join(dir, e.name), [...rel, e.name])
      }
    }
    await walk(this.root, [])
    return out.sort()
  }

  /** A layout has no referrers API: the engine falls back to `sha256-<hex>` tags, ordinary tags here. */
  async referrers(_repo: string, _digest: string): Promise<Descriptor[] | undefined> {
    return undefined
  }

  private async findTag(dir: string, tag: string): Promise<Descriptor | undefined> {
    this.checkTag(tag)
    return (await this.files.readIndex(dir)).manifests.find((d) => refName(d) === tag)
  }

  private jsonMediaType(bytes: Buffer): string {
    try {
      return parseManifest(bytes).mediaType || MediaTypes.ociManifest
    } catch {
      return MediaTypes.ociManifest
    }
  }

  // ---- validation and errors ----

  private checkDigest(digest: string): void {
    checkLayoutDigest(this.name, digest)
  }

  private checkTag(tag: string): void {
    if (!isValidTag(tag)) {
      throw new ImgsyncError(
        'INVALID_REFERENCE',
        `${this.name}: ${JSON.stringify(tag)} is not a valid tag (letters, digits, _ . -; at most 128; not starting with . or -)`,
      )
    }
  }

  private where(repo: string, reference: string): string {
    return `${repo}${isDigestRef(reference) ? '@' : ':'}${reference}`
  }

  private manifestNotFound(repo: string, reference: string): ImgsyncError {
    return new ImgsyncError('NOT_FOUND', `${this.name}: manifest ${this.where(repo, reference)} not found`)
  }
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`
}

function digestOf(bytes: Uint8Array, like: string): { matches: boolean; actual: string } {
  const [alg, hex] = like.split(':') as [string, string]
  const actual = createHash(alg).update(bytes).digest('hex')
  return { matches: actual === hex, actual: `${alg}:${actual}` }
}
