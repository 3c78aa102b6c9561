// An OCI image layout directory (image-spec image-layout.md) as a RegistryApi: `oci-layout`,
// `index.json` (tags are org.opencontainers.image.ref.name annotations, as skopeo and umoci write
// them) and content-addressed `blobs/<alg>/<hex>`, where manifests are blobs too.
import { createHash, randomBytes } from 'node:crypto'
import type { Dirent } from 'node:fs'
import { type FileHandle, mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { Readable } from 'node:stream'
import writeFileAtomic from 'write-file-atomic'
import { type ErrorCode, ImgsyncError } from '../errors.js'
import type { Manifest, ManifestInfo, MountResult, PutManifestResult, RegistryApi } from './api.js'
import { blobDescriptors, type Descriptor, isIndexType, MediaTypes, parseManifest } from './media-types.js'
import { isValidDigest, isValidTag } from './names.js'

/** `single`: the root is one repository's layout; `multi`: `root/<repo>` is one layout per repository. */
export type OciLayoutMode = 'single' | 'multi'

export interface OciLayoutOptions {
  mode: OciLayoutMode
}

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name'
export const OCI_LAYOUT_FILE = 'oci-layout'
/** write-file-atomic's temporary names for the marker and the index while they are written */
const IN_PROGRESS = /^(oci-layout|index\.json)\.\d+$/
export const OCI_LAYOUT_VERSION = '1.0.0'

const INDEX_FILE = 'index.json'
const BLOBS_DIR = 'blobs'
const MAX_MANIFEST_BYTES = 8 * 1024 * 1024
// one path segment of a repository inside a multi layout: no '.', '..', hidden or odd names
const REPO_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

interface IndexDocument {
  schemaVersion: number
  mediaType?: string
  manifests: Descriptor[]
  [key: string]: unknown
}

// index.json read-modify-write is serialised per layout directory for the whole process, so two
// instances over the same directory cannot lose each other's tags.
const dirLocks = new Map<string, Promise<unknown>>()

function withDirLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const prev = dirLocks.get(dir) ?? Promise.resolve()
  const run = prev.catch(() => undefined).then(fn)
  const tail = run.catch(() => undefined)
  dirLocks.set(dir, tail)
  void tail.then(() => {
    if (dirLocks.get(dir) === tail) dirLocks.delete(dir)
  })
  return run
}

function isDigestRef(ref: string): boolean {
  return ref.includes(':')
}

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code
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
  private readonly verified = new Set<string>()

  constructor(root: string, opts: OciLayoutOptions) {
    this.root = resolve(root)
    this.mode = opts.mode
    this.name = `oci:${this.root}`
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
    if ((await this.state(dir)) === 'absent') return undefined
    if (isDigestRef(reference)) {
      const path = this.blobPath(dir, reference)
      const size = await this.fileSize(path)
      if (size === undefined) return undefined
      const entry = (await this.readIndex(dir)).manifests.find((d) => d.digest === reference)
      const mediaType = entry?.mediaType || this.jsonMediaType(await this.readManifestBytes(path, reference))
      return { digest: reference, mediaType, size }
    }
    const entry = await this.findTag(dir, reference)
    if (!entry) return undefined
    const size = await this.fileSize(this.blobPath(dir, entry.digest))
    if (size === undefined) return undefined
    return { digest: entry.digest, mediaType: entry.mediaType, size }
  }

  async getManifest(repo: string, reference: string): Promise<Manifest> {
    const dir = this.layoutDir(repo)
    if ((await this.state(dir)) === 'absent') throw this.noLayout(dir)
    let digest = reference
    let mediaType: string | undefined
    if (isDigestRef(reference)) {
      this.checkDigest(reference)
      mediaType = (await this.readIndex(dir)).manifests.find((d) => d.digest === reference)?.mediaType
    } else {
      const entry = await this.findTag(dir, reference)
      if (!entry) throw this.manifestNotFound(repo, reference)
      digest = entry.digest
      mediaType = entry.mediaType
    }
    const path = this.blobPath(dir, digest)
    if ((await this.fileSize(path)) === undefined) throw this.manifestNotFound(repo, reference)
    const bytes = await this.readManifestBytes(path, digest)
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
    await this.ensureLayout(dir)
    // like a registry: refuse a manifest whose blobs or child manifests the layout does not hold
    const needed = isIndexType(parsed.mediaType) ? parsed.manifests : blobDescriptors(parsed)
    for (const d of needed) {
      this.checkDigest(d.digest)
      if ((await this.fileSize(this.blobPath(dir, d.digest))) === undefined) {
        throw new ImgsyncError(
          'REGISTRY_ERROR',
          `${this.name}: manifest ${this.where(repo, reference)} references ${d.digest}, which the layout does not hold`,
          { suggestions: ['copy its blobs and child manifests first'] },
        )
      }
    }
    await this.writeBlob(dir, digest, bytes)
    if (!isDigestRef(reference)) {
      const desc: Descriptor = {
        mediaType: mediaType || parsed.mediaType || MediaTypes.ociManifest,
        digest,
        size: bytes.length,
        ...(parsed.artifactType !== undefined && { artifactType: parsed.artifactType }),
        annotations: { [REF_NAME_ANNOTATION]: reference },
      }
      await this.updateIndex(dir, (index) => {
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
    if ((await this.state(dir)) === 'absent') throw this.noLayout(dir)
    let removed = 0
    await this.updateIndex(dir, (index) => {
      const kept = index.manifests.filter((d) => d.digest !== digest)
      removed = index.manifests.length - kept.length
      index.manifests = kept
      return removed > 0
    })
    if (removed === 0 && (await this.fileSize(this.blobPath(dir, digest))) === undefined) {
      throw this.manifestNotFound(repo, digest)
    }
  }

  // ---- RegistryApi: blobs ----

  async hasBlob(repo: string, digest: string): Promise<boolean> {
    const dir = this.layoutDir(repo)
    const path = this.blobPath(dir, digest)
    if ((await this.state(dir)) === 'absent') return false
    return (await this.fileSize(path)) !== undefined
  }

  async getBlob(repo: string, desc: Descriptor): Promise<Readable> {
    const dir = this.layoutDir(repo)
    const path = this.blobPath(dir, desc.digest)
    if ((await this.state(dir)) === 'absent') throw this.noLayout(dir)
    try {
      const handle = await open(path, 'r')
      return handle.createReadStream()
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') {
        throw new ImgsyncError('NOT_FOUND', `${this.name}: blob ${desc.digest} not found (${path})`)
      }
      throw this.fsError(err, `read blob ${desc.digest.slice(0, 19)}…`, path)
    }
  }

  async putBlob(repo: string, desc: Descriptor, body: Readable, _session?: string): Promise<void> {
    const dir = this.layoutDir(repo)
    try {
      this.checkDigest(desc.digest)
      await this.ensureLayout(dir)
    } catch (err) {
      body.destroy()
      throw err
    }
    await this.storeBlob(dir, desc.digest, desc.size, body)
  }

  async mountBlob(_repo: string, _digest: string, _fromRepo: string): Promise<MountResult> {
    return { mounted: false }
  }

  // ---- RegistryApi: listing ----

  /** ref.name annotations that are valid tags, in index.json order (fully qualified names are left out). */
  async listTags(repo: string): Promise<string[]> {
    const dir = this.layoutDir(repo)
    if ((await this.state(dir)) === 'absent') throw this.noLayout(dir)
    const seen = new Set<string>()
    for (const d of (await this.readIndex(dir)).manifests) {
      const name = refName(d)
      if (name !== undefined && isValidTag(name)) seen.add(name)
    }
    return [...seen]
  }

  /** single: [''] when the layout exists; multi: every directory below the root holding an oci-layout file. */
  async listRepositories(): Promise<string[]> {
    if (this.mode === 'single') return (await this.state(this.root)) === 'ok' ? [''] : []
    const out: string[] = []
    const walk = async (dir: string, rel: string[]): Promise<void> => {
      let entries: Dirent[]
      try {
        entries = await readdir(dir, { withFileTypes: true })
      } catch (err) {
        if (rel.length === 0 && errnoOf(err) === 'ENOENT') {
          throw new ImgsyncError('NOT_FOUND', `${this.name}: directory ${dir} does not exist`)
        }
        throw this.fsError(err, 'list repositories', dir)
      }
      const isLayout = entries.some((e) => e.name === OCI_LAYOUT_FILE && e.isFile())
      if (isLayout && rel.length > 0) out.push(rel.join('/'))
      for (const e of entries) {
        if (!e.isDirectory() || !REPO_SEGMENT.test(e.name)) continue
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

  // ---- layout structure ----

  /**
   * 'ok' for a layout, 'absent' for a missing directory or one holding only directories (a parent of
   * layouts, or an empty one). A directory with files but no oci-layout file is refused.
   */
  private async state(dir: string): Promise<'ok' | 'absent'> {
    if (this.verified.has(dir)) return 'ok'
    let text: string
    try {
      text = await readFile(join(dir, OCI_LAYOUT_FILE), 'utf8')
    } catch (err) {
      const code = errnoOf(err)
      if (code === 'ENOTDIR') throw this.notADirectory(dir)
      if (code !== 'ENOENT') throw this.fsError(err, 'open layout', dir)
      return this.stateWithoutMarker(dir)
    }
    let version: unknown
    try {
      version = (JSON.parse(text) as { imageLayoutVersion?: unknown }).imageLayoutVersion
    } catch {
      version = undefined
    }
    if (typeof version !== 'string' || !/^1\./.test(version)) {
      throw new ImgsyncError(
        'UNSUPPORTED_MEDIA_TYPE',
        `${this.name}: ${join(dir, OCI_LAYOUT_FILE)} does not declare imageLayoutVersion 1.x`,
      )
    }
    this.verified.add(dir)
    return 'ok'
  }

  private async stateWithoutMarker(dir: string): Promise<'absent'> {
    let entries: Dirent[]
    try {
      entries = await readdir(dir, { withFileTypes: true })
    } catch (err) {
      const code = errnoOf(err)
      if (code === 'ENOENT') return 'absent'
      if (code === 'ENOTDIR') throw this.notADirectory(dir)
      throw this.fsError(err, 'open layout', dir)
    }
    // another task may be creating the layout right now: its marker is still a temporary file
    // (write-file-atomic writes oci-layout.<n>, then renames it), which does not make this foreign
    const files = entries.filter((e) => !e.isDirectory() && !IN_PROGRESS.test(e.name))
    if (files.length > 0) {
      throw new ImgsyncError(
        'INVALID_ARGUMENT',
        `${this.name}: ${dir} is not an OCI image layout (it has no oci-layout file, but holds ${files[0]!.name})`,
        { suggestions: ['point oci: at a layout directory, or at a new or empty directory to create one'] },
      )
    }
    return 'absent'
  }

  /** Creates the layout (oci-layout file, empty index.json) unless it exists; serialised with index updates. */
  private async ensureLayout(dir: string): Promise<void> {
    if (this.verified.has(dir)) return
    await withDirLock(dir, async () => {
      if ((await this.state(dir)) === 'ok') {
        // a crash between the two writes below leaves no index.json; finish the job
        if ((await this.fileSize(join(dir, INDEX_FILE))) === undefined)
          await this.writeIndex(dir, emptyIndex())
        return
      }
      await this.mkdirp(join(dir, BLOBS_DIR, 'sha256'))
      // oci-layout first: a directory holding index.json but no oci-layout would be refused later
      await this.atomicWrite(
        join(dir, OCI_LAYOUT_FILE),
        `${JSON.stringify({ imageLayoutVersion: OCI_LAYOUT_VERSION })}`,
      )
      await this.writeIndex(dir, emptyIndex())
      this.verified.add(dir)
    })
  }

  private async readIndex(dir: string): Promise<IndexDocument> {
    const path = join(dir, INDEX_FILE)
    let text: string
    try {
      text = await readFile(path, 'utf8')
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return emptyIndex()
      throw this.fsError(err, 'read index.json', path)
    }
    let doc: unknown
    try {
      doc = JSON.parse(text)
    } catch {
      throw new ImgsyncError('REGISTRY_ERROR', `${this.name}: ${path} is not valid JSON`)
    }
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
      throw new ImgsyncError('REGISTRY_ERROR', `${this.name}: ${path} is not a JSON object`)
    }
    const index = doc as IndexDocument
    if (index.manifests === undefined || index.manifests === null) index.manifests = []
    if (!Array.isArray(index.manifests)) {
      throw new ImgsyncError('REGISTRY_ERROR', `${this.name}: ${path}: "manifests" is not an array`)
    }
    index.manifests = index.manifests.filter(
      (d) => d !== null && typeof d === 'object' && typeof d.digest === 'string',
    )
    return index
  }

  /**
   * Read-modify-write of index.json under the directory's lock. Nothing is written when `change`
   * returns false or leaves the index as it was (re-pushing a tag is free).
   */
  private async updateIndex(dir: string, change: (index: IndexDocument) => boolean): Promise<void> {
    await withDirLock(dir, async () => {
      const index = await this.readIndex(dir)
      const before = JSON.stringify(index)
      if (!change(index) || JSON.stringify(index) === before) return
      await this.writeIndex(dir, index)
    })
  }

  private async writeIndex(dir: string, index: IndexDocument): Promise<void> {
    await this.atomicWrite(join(dir, INDEX_FILE), `${JSON.stringify(index, null, 2)}\n`)
  }

  private async atomicWrite(path: string, text: string): Promise<void> {
    try {
      // a temporary file in the same directory, fsynced, then renamed over the old one
      await writeFileAtomic(path, text, { fsync: true, mode: 0o644 })
    } catch (err) {
      throw this.fsError(err, 'write', path)
    }
  }

  private async findTag(dir: string, tag: string): Promise<Descriptor | undefined> {
    this.checkTag(tag)
    return (await this.readIndex(dir)).manifests.find((d) => refName(d) === tag)
  }

  private async writeBlob(dir: string, digest: string, bytes: Buffer): Promise<void> {
    if ((await this.fileSize(this.blobPath(dir, digest))) === bytes.length) return
    await this.storeBlob(dir, digest, bytes.length, Readable.from([bytes]))
  }

  /**
   * Streams `body` to a temporary file in blobs/, checks size and digest, fsyncs and renames it into
   * place: a blob path only ever holds complete, verified content. The temporary file goes on error.
   */
  private async storeBlob(dir: string, digest: string, size: number, body: Readable): Promise<void> {
    const [alg, hex] = digest.split(':') as [string, string]
    const target = join(dir, BLOBS_DIR, alg, hex)
    const tmp = join(dir, BLOBS_DIR, `.imgsync-${randomBytes(8).toString('hex')}.tmp`)
    let handle: FileHandle | undefined
    try {
      await this.mkdirp(join(dir, BLOBS_DIR, alg))
      handle = await open(tmp, 'wx', 0o644)
      const hash = createHash(alg)
      let bytes = 0
      for await (const chunk of body as AsyncIterable<Buffer>) {
        bytes += chunk.length
        if (bytes > size) break
        hash.update(chunk)
        for (let off = 0; off < chunk.length; ) off += (await handle.write(chunk, off)).bytesWritten
      }
      const hashed = bytes === size ? hash.digest('hex') : undefined
      if (hashed !== hex) {
        const what =
          bytes > size
            ? `more than the ${size} bytes its descriptor declares`
            : bytes !== size
              ? `${bytes} bytes, but its descriptor declares ${size}`
              : `content hashing to ${hashed!.slice(0, 12)}…`
        throw new ImgsyncError(
          'DIGEST_MISMATCH',
          `${this.name}: blob ${digest.slice(0, 19)}… arrived as ${what}`,
          {
            temporary: true,
            suggestions: ['the source sent damaged data; re-run the sync'],
          },
        )
      }
      await handle.sync()
      await handle.close()
      handle = undefined
      await rename(tmp, target)
    } catch (err) {
      body.destroy()
      await handle?.close().catch(() => undefined)
      await unlink(tmp).catch(() => undefined)
      if (err instanceof ImgsyncError) throw err
      // the caller's checks fail the body with an ImgsyncError (above); file system errors get a code here
      const code = errnoOf(err)
      if (code !== undefined && !code.startsWith('ERR_')) {
        throw this.fsError(err, `write blob ${digest.slice(0, 19)}…`, target)
      }
      throw err
    }
  }

  private async readManifestBytes(path: string, digest: string): Promise<Buffer> {
    const size = await this.fileSize(path)
    if (size !== undefined && size > MAX_MANIFEST_BYTES) {
      throw new ImgsyncError(
        'UNSUPPORTED_MEDIA_TYPE',
        `${this.name}: manifest ${digest.slice(0, 19)}… is larger than 8 MiB`,
      )
    }
    try {
      return await readFile(path)
    } catch (err) {
      throw this.fsError(err, `read manifest ${digest.slice(0, 19)}…`, path)
    }
  }

  private jsonMediaType(bytes: Buffer): string {
    try {
      return parseManifest(bytes).mediaType || MediaTypes.ociManifest
    } catch {
      return MediaTypes.ociManifest
    }
  }

  private blobPath(dir: string, digest: string): string {
    this.checkDigest(digest)
    const [alg, hex] = digest.split(':') as [string, string]
    return join(dir, BLOBS_DIR, alg, hex)
  }

  private async fileSize(path: string): Promise<number | undefined> {
    try {
      const s = await stat(path)
      return s.isFile() ? s.size : undefined
    } catch (err) {
      const code = errnoOf(err)
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined
      throw this.fsError(err, 'stat', path)
    }
  }

  private async mkdirp(path: string): Promise<void> {
    try {
      await mkdir(path, { recursive: true })
    } catch (err) {
      if (errnoOf(err) === 'ENOTDIR' || errnoOf(err) === 'EEXIST') throw this.notADirectory(path)
      throw this.fsError(err, 'create directory', path)
    }
  }

  // ---- validation and errors ----

  private checkDigest(digest: string): void {
    if (!isValidDigest(digest)) {
      throw new ImgsyncError(
        'INVALID_REFERENCE',
        `${this.name}: ${JSON.stringify(digest)} is not a digest (sha256:<64 hex> or sha512:<128 hex>)`,
      )
    }
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

  private noLayout(dir: string): ImgsyncError {
    return new ImgsyncError('NOT_FOUND', `${this.name}: no OCI image layout at ${dir}`, {
      suggestions: ['check the path; a layout directory holds oci-layout, index.json and blobs/'],
    })
  }

  private notADirectory(path: string): ImgsyncError {
    return new ImgsyncError('INVALID_ARGUMENT', `${this.name}: ${path} (or a parent) is not a directory`)
  }

  private fsError(err: unknown, what: string, path: string): ImgsyncError {
    const code = errnoOf(err)
    const detail = (err as Error | undefined)?.message ?? String(err)
    let errorCode: ErrorCode = 'REGISTRY_ERROR'
    let message = `${this.name}: ${what} ${path}: ${detail}`
    const suggestions: string[] = []
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      errorCode = 'DENIED'
      message = `${this.name}: cannot ${what} ${path}: ${code === 'EROFS' ? 'read-only file system' : 'permission denied'}`
      suggestions.push('check the directory permissions, or choose a directory you can write to')
    } else if (code === 'ENOSPC' || code === 'EDQUOT') {
      message = `${this.name}: cannot ${what} ${path}: no space left on the device`
      suggestions.push('free some space, or export to another disk')
    } else if (code === 'ENOENT') {
      errorCode = 'NOT_FOUND'
    }
    return new ImgsyncError(errorCode, message, { cause: err, suggestions })
  }
}

function emptyIndex(): IndexDocument {
  return { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [] }
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`
}

function digestOf(bytes: Uint8Array, like: string): { matches: boolean; actual: string } {
  const [alg, hex] = like.split(':') as [string, string]
  const actual = createHash(alg).update(bytes).digest('hex')
  return { matches: actual === hex, actual: `${alg}:${actual}` }
}
