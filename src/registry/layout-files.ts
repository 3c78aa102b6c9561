// The files of OCI image layouts (image-spec image-layout.md) on a LayoutStorage: the `oci-layout`
// marker, `index.json` (read-modify-write serialised per directory) and content-addressed
// `blobs/<alg>/<hex>` written through a temporary file and checked before they become visible.
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { type ErrorCode, ImgsyncError } from '../errors.js'
import type { LayoutStorage, StorageEntry } from './layout-storage.js'
import type { Descriptor } from './media-types.js'
import { MediaTypes } from './media-types.js'
import { isValidDigest } from './names.js'

export const OCI_LAYOUT_FILE = 'oci-layout'
export const OCI_LAYOUT_VERSION = '1.0.0'
/** write-file-atomic's temporary names for the marker and the index while they are written */
const IN_PROGRESS = /^(oci-layout|index\.json)\.\d+$/
const INDEX_FILE = 'index.json'
export const BLOBS_DIR = 'blobs'
export const MAX_MANIFEST_BYTES = 8 * 1024 * 1024

export interface IndexDocument {
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

export function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code
}

/** Throws INVALID_REFERENCE unless `digest` is one a blob path can be built from. */
export function checkLayoutDigest(name: string, digest: string): void {
  if (!isValidDigest(digest)) {
    throw new ImgsyncError(
      'INVALID_REFERENCE',
      `${name}: ${JSON.stringify(digest)} is not a digest (sha256:<64 hex> or sha512:<128 hex>)`,
    )
  }
}

export function emptyIndex(): IndexDocument {
  return { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [] }
}

/** The layout directories below one root, as one backend sees them. */
export class LayoutFiles {
  /** layout directories already checked (or created) in this process */
  private readonly verified = new Set<string>()

  constructor(
    /** the backend's name, for messages */
    private readonly name: string,
    private readonly storage: LayoutStorage,
  ) {}

  /**
   * 'ok' for a layout, 'absent' for a missing directory or one holding only directories (a parent of
   * layouts, or an empty one). A directory with files but no oci-layout file is refused.
   */
  async state(dir: string): Promise<'ok' | 'absent'> {
    if (this.verified.has(dir)) return 'ok'
    let text: string | undefined
    try {
      text = await this.storage.readText(join(dir, OCI_LAYOUT_FILE))
    } catch (err) {
      if (errnoOf(err) === 'ENOTDIR') throw this.notADirectory(dir)
      throw this.fsError(err, 'open layout', dir)
    }
    if (text === undefined) return this.stateWithoutMarker(dir)
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

  async stateWithoutMarker(dir: string): Promise<'absent'> {
    let entries: StorageEntry[] | undefined
    try {
      entries = await this.storage.list(dir)
    } catch (err) {
      if (errnoOf(err) === 'ENOTDIR') throw this.notADirectory(dir)
      throw this.fsError(err, 'open layout', dir)
    }
    if (!entries) return 'absent'
    // another task may be creating the layout right now: its marker is still a temporary file
    // (write-file-atomic writes oci-layout.<n>, then renames it), which does not make this foreign
    const files = entries.filter((e) => !e.directory && !IN_PROGRESS.test(e.name))
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
  async ensureLayout(dir: string): Promise<void> {
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

  async readIndex(dir: string): Promise<IndexDocument> {
    const path = join(dir, INDEX_FILE)
    let text: string | undefined
    try {
      text = await this.storage.readText(path)
    } catch (err) {
      throw this.fsError(err, 'read index.json', path)
    }
    if (text === undefined) return emptyIndex()
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
  async updateIndex(dir: string, change: (index: IndexDocument) => boolean): Promise<void> {
    await withDirLock(dir, async () => {
      const index = await this.readIndex(dir)
      const before = JSON.stringify(index)
      if (!change(index) || JSON.stringify(index) === before) return
      await this.writeIndex(dir, index)
    })
  }

  async writeIndex(dir: string, index: IndexDocument): Promise<void> {
    await this.atomicWrite(join(dir, INDEX_FILE), `${JSON.stringify(index, null, 2)}\n`)
  }

  async atomicWrite(path: string, text: string): Promise<void> {
    try {
      await this.storage.replace(path, text)
    } catch (err) {
      throw this.fsError(err, 'write', path)
    }
  }

  async writeBlob(dir: string, digest: string, bytes: Buffer): Promise<void> {
    if ((await this.fileSize(this.blobPath(dir, digest))) === bytes.length) return
    await this.storeBlob(dir, digest, bytes.length, Readable.from([bytes]))
  }

  /**
   * Streams `body` to a temporary file in blobs/, checks size and digest, fsyncs and renames it into
   * place: a blob path only ever holds complete, verified content. The temporary file goes on error.
   */
  async storeBlob(dir: string, digest: string, size: number, body: Readable): Promise<void> {
    const [alg, hex] = digest.split(':') as [string, string]
    const target = join(dir, BLOBS_DIR, alg, hex)
    const hash = createHash(alg)
    let bytes = 0
    // counted and hashed on the way; past the declared size nothing more is written
    async function* checked(): AsyncIterable<Buffer> {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        bytes += chunk.length
        if (bytes > size) return
        hash.update(chunk)
        yield chunk
      }
    }
    const commit = () => {
      const hashed = bytes === size ? hash.digest('hex') : undefined
      if (hashed === hex) return
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
    try {
      await this.mkdirp(join(dir, BLOBS_DIR, alg))
      await this.storage.store(target, checked(), commit, join(dir, BLOBS_DIR))
    } catch (err) {
      body.destroy()
      if (err instanceof ImgsyncError) throw err
      // the caller's checks fail the body with an ImgsyncError (above); file system errors get a code here
      const code = errnoOf(err)
      if (code !== undefined && !code.startsWith('ERR_')) {
        throw this.fsError(err, `write blob ${digest.slice(0, 19)}…`, target)
      }
      if (code?.startsWith('ERR_STREAM')) {
        // the source stream broke off without saying why: a broken transfer, worth another try
        throw new ImgsyncError(
          'NETWORK',
          `${this.name}: blob ${digest.slice(0, 19)}…: the source stream broke off`,
          {
            temporary: true,
            cause: err,
          },
        )
      }
      throw err
    }
  }

  async readManifestBytes(path: string, digest: string): Promise<Buffer> {
    const size = await this.fileSize(path)
    if (size !== undefined && size > MAX_MANIFEST_BYTES) {
      throw new ImgsyncError(
        'UNSUPPORTED_MEDIA_TYPE',
        `${this.name}: manifest ${digest.slice(0, 19)}… is larger than 8 MiB`,
      )
    }
    try {
      return await this.storage.readBytes(path)
    } catch (err) {
      throw this.fsError(err, `read manifest ${digest.slice(0, 19)}…`, path)
    }
  }

  blobPath(dir: string, digest: string): string {
    checkLayoutDigest(this.name, digest)
    const [alg, hex] = digest.split(':') as [string, string]
    return join(dir, BLOBS_DIR, alg, hex)
  }

  async fileSize(path: string): Promise<number | undefined> {
    try {
      return await this.storage.size(path)
    } catch (err) {
      throw this.fsError(err, 'stat', path)
    }
  }

  async mkdirp(path: string): Promise<void> {
    try {
      await this.storage.mkdirp(path)
    } catch (err) {
      if (errnoOf(err) === 'ENOTDIR' || errnoOf(err) === 'EEXIST') throw this.notADirectory(path)
      throw this.fsError(err, 'create directory', path)
    }
  }

  noLayout(dir: string): ImgsyncError {
    return new ImgsyncError('NOT_FOUND', `${this.name}: no OCI image layout at ${dir}`, {
      suggestions: ['check the path; a layout directory holds oci-layout, index.json and blobs/'],
    })
  }

  notADirectory(path: string): ImgsyncError {
    return new ImgsyncError('INVALID_ARGUMENT', `${this.name}: ${path} (or a parent) is not a directory`)
  }

  fsError(err: unknown, what: string, path: string): ImgsyncError {
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
