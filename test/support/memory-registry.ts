// An in-memory RegistryApi for unit tests. It behaves like CNCF distribution where the copy engine can
// tell the difference: blobs and manifests live per repository, a manifest push is refused while a blob
// or child manifest it references is missing from that repository, an upload is hashed and refused when
// it does not match its digest, and a cross-repository mount only works when the source repository
// holds the blob. Every call is appended to `log` so tests can assert order and counts.
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { ImgsyncError } from '../../src/errors.js'
import type {
  Manifest,
  ManifestInfo,
  MountResult,
  PutManifestResult,
  RegistryApi,
  RegistryCapabilities,
} from '../../src/registry/api.js'
import type { Descriptor, Platform } from '../../src/registry/media-types.js'

export const MT = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  helmConfig: 'application/vnd.cncf.helm.config.v1+json',
  helmChart: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip',
} as const

export type Op =
  | 'headManifest'
  | 'getManifest'
  | 'putManifest'
  | 'deleteManifest'
  | 'hasBlob'
  | 'getBlob'
  | 'putBlob'
  | 'mountBlob'
  | 'listTags'
  | 'listRepositories'
  | 'referrers'

const WRITE_OPS: ReadonlySet<string> = new Set(['putBlob', 'putManifest', 'mountBlob', 'deleteManifest'])

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`
}

function isDigest(ref: string): boolean {
  return ref.includes(':')
}

interface StoredManifest {
  bytes: Buffer
  mediaType: string
}

interface Repo {
  blobs: Map<string, Buffer>
  manifests: Map<string, StoredManifest>
  tags: Map<string, string>
}

interface Fault {
  remaining: number
}

export interface MemoryRegistryOptions {
  /** ms each call of that kind waits before it answers (default: one macrotask) */
  delayMs?: Partial<Record<Op, number>>
  /** size of the chunks getBlob streams (default 7, so blobs arrive in many pieces) */
  chunkSize?: number
  /** what it says it can do (default: like a registry) */
  capabilities?: Partial<RegistryCapabilities>
}

export interface SeededImage extends Descriptor {
  /** the manifest bytes as stored */
  bytes: Buffer
  config: Descriptor
  /** every layer, foreign ones included */
  layers: Descriptor[]
  /** config + non-foreign layers: what a target must hold before the manifest can be pushed */
  blobs: Descriptor[]
}

export interface SeededIndex extends Descriptor {
  bytes: Buffer
  children: SeededImage[]
}

export interface ImageSpec {
  layers: Buffer[]
  /** oci (default) or docker schema 2 media types */
  format?: 'oci' | 'docker'
  /** config bytes; default: a JSON config naming the layers (so distinct layer sets give distinct configs) */
  config?: Buffer
  configMediaType?: string
  artifactType?: string
  /** layers with `urls`, referenced but not stored (Windows foreign layers) */
  foreignLayers?: Descriptor[]
  platform?: Platform
  annotations?: Record<string, string>
  subject?: Descriptor
}

export interface IndexSpec {
  images: (ImageSpec & { platform?: Platform })[]
  format?: 'oci' | 'docker'
  artifactType?: string
  /** leave `mediaType` out of the JSON (allowed for OCI indexes) */
  omitMediaType?: boolean
}

export class MemoryRegistry implements RegistryApi {
  readonly name: string
  readonly capabilities: RegistryCapabilities
  /** every call, in the order made: `op repo arg`, e.g. `putBlob app sha256:…` */
  readonly log: string[] = []
  private readonly repos = new Map<string, Repo>()
  private readonly corrupt = new Map<string, Fault>()
  private readonly getBlobFaults = new Map<string, Fault & { error: Error }>()
  private readonly delayMs: Partial<Record<Op, number>>
  private readonly chunkSize: number

  constructor(name: string, opts: MemoryRegistryOptions = {}) {
    this.name = name
    this.capabilities = {
      mount: true,
      referrersApi: true,
      rememberTags: true,
      delete: true,
      ...opts.capabilities,
    }
    this.delayMs = { ...opts.delayMs }
    this.chunkSize = opts.chunkSize ?? 7
  }

  // ---- test helpers: log ----

  /** log entries of one operation */
  ops(op: Op): string[] {
    return this.log.filter((l) => l.split(' ', 1)[0] === op)
  }

  count(op: Op, ...args: string[]): number {
    const prefix = [op, ...args].join(' ')
    return this.log.filter((l) => l === prefix || l.startsWith(`${prefix} `)).length
  }

  /** log entries that change the registry (putBlob, putManifest, mountBlob, deleteManifest) */
  writes(): string[] {
    return this.log.filter((l) => WRITE_OPS.has(l.split(' ', 1)[0]!))
  }

  clearLog(): void {
    this.log.length = 0
  }

  setDelay(op: Op, ms: number): void {
    this.delayMs[op] = ms
  }

  // ---- test helpers: faults ----

  /** getBlob of `digest` streams the right length but altered bytes (`times` calls, default all) */
  corruptBlob(digest: string, times = Number.POSITIVE_INFINITY): void {
    this.corrupt.set(digest, { remaining: times })
  }

  /** getBlob of `digest` rejects with `error` (`times` calls, default all) */
  failGetBlob(digest: string, error: Error, times = Number.POSITIVE_INFINITY): void {
    this.getBlobFaults.set(digest, { remaining: times, error })
  }

  // ---- test helpers: content ----

  seedBlob(repo: string, bytes: Buffer, mediaType: string = MT.ociLayer): Descriptor {
    const digest = sha256(bytes)
    this.repo(repo).blobs.set(digest, Buffer.from(bytes))
    return { mediaType, digest, size: bytes.length }
  }

  /** stores manifest bytes as they are (no checks), under `tag` too when given */
  seedManifest(repo: string, tag: string | undefined, bytes: Buffer, mediaType: string): Descriptor {
    const digest = sha256(bytes)
    const r = this.repo(repo)
    r.manifests.set(digest, { bytes: Buffer.from(bytes), mediaType })
    if (tag !== undefined) r.tags.set(tag, digest)
    return { mediaType, digest, size: bytes.length }
  }

  seedImage(repo: string, tag: string | undefined, spec: ImageSpec): SeededImage {
    const docker = spec.format === 'docker'
    const layers = spec.layers.map((l) => this.seedBlob(repo, l, docker ? MT.dockerLayer : MT.ociLayer))
    const configBytes =
      spec.config ??
      Buffer.from(
        JSON.stringify({
          architecture: spec.platform?.architecture ?? 'amd64',
          os: spec.platform?.os ?? 'linux',
          rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
        }),
      )
    const config = this.seedBlob(
      repo,
      configBytes,
      spec.configMediaType ?? (docker ? MT.dockerConfig : MT.ociConfig),
    )
    const allLayers = [...layers, ...(spec.foreignLayers ?? [])]
    const mediaType = docker ? MT.dockerManifest : MT.ociManifest
    const json: Record<string, unknown> = { schemaVersion: 2, mediaType }
    if (spec.artifactType) json.artifactType = spec.artifactType
    json.config = config
    json.layers = allLayers
    if (spec.subject) json.subject = spec.subject
    if (spec.annotations) json.annotations = spec.annotations
    // unusual spacing on purpose: a re-serialising copier would change the digest
    const bytes = Buffer.from(`${JSON.stringify(json, null, 3)}\n`)
    const d = this.seedManifest(repo, tag, bytes, mediaType)
    return {
      ...d,
      ...(spec.platform && { platform: spec.platform }),
      bytes,
      config,
      layers: allLayers,
      blobs: [config, ...layers],
    }
  }

  seedIndex(repo: string, tag: string | undefined, spec: IndexSpec): SeededIndex {
    const docker = spec.format === 'docker'
    const children = spec.images.map((img) =>
      this.seedImage(repo, undefined, { format: spec.format, ...img }),
    )
    const mediaType = docker ? MT.dockerList : MT.ociIndex
    const json: Record<string, unknown> = { schemaVersion: 2 }
    if (!spec.omitMediaType) json.mediaType = mediaType
    if (spec.artifactType) json.artifactType = spec.artifactType
    json.manifests = children.map((c) => ({
      mediaType: c.mediaType,
      digest: c.digest,
      size: c.size,
      ...(c.platform && { platform: c.platform }),
    }))
    const bytes = Buffer.from(`${JSON.stringify(json, null, 1)}\n`)
    const d = this.seedManifest(repo, tag, bytes, mediaType)
    return { ...d, bytes, children }
  }

  // ---- test helpers: inspection (not logged) ----

  tagDigest(repo: string, tag: string): string | undefined {
    return this.repos.get(repo)?.tags.get(tag)
  }

  tags(repo: string): string[] {
    return [...(this.repos.get(repo)?.tags.keys() ?? [])].sort()
  }

  hasBlobNow(repo: string, digest: string): boolean {
    return this.repos.get(repo)?.blobs.has(digest) ?? false
  }

  blobBytes(repo: string, digest: string): Buffer | undefined {
    return this.repos.get(repo)?.blobs.get(digest)
  }

  blobDigests(repo: string): string[] {
    return [...(this.repos.get(repo)?.blobs.keys() ?? [])].sort()
  }

  manifestDigests(repo: string): string[] {
    return [...(this.repos.get(repo)?.manifests.keys() ?? [])].sort()
  }

  /** the stored manifest bytes for a tag or digest */
  manifestBytes(repo: string, ref: string): Buffer | undefined {
    return this.lookup(repo, ref)?.stored.bytes
  }

  // ---- RegistryApi ----

  async headManifest(repo: string, reference: string): Promise<ManifestInfo | undefined> {
    await this.enter('headManifest', repo, reference)
    const found = this.lookup(repo, reference)
    if (!found) return undefined
    return { digest: found.digest, mediaType: found.stored.mediaType, size: found.stored.bytes.length }
  }

  async getManifest(repo: string, reference: string): Promise<Manifest> {
    await this.enter('getManifest', repo, reference)
    const found = this.lookup(repo, reference)
    if (!found) throw this.notFound('MANIFEST_UNKNOWN', `manifest ${repo}:${reference}`)
    const bytes = Buffer.from(found.stored.bytes)
    return { digest: found.digest, mediaType: found.stored.mediaType, size: bytes.length, bytes }
  }

  async putManifest(
    repo: string,
    reference: string,
    bytes: Buffer,
    mediaType: string,
  ): Promise<PutManifestResult> {
    await this.enter('putManifest', repo, reference)
    const what = `push manifest ${repo}:${reference}`
    const digest = sha256(bytes)
    if (isDigest(reference) && reference !== digest) {
      throw this.refused('DIGEST_MISMATCH', 'DIGEST_INVALID', what, `manifest hashes to ${digest}`)
    }
    let json: {
      manifests?: Descriptor[]
      config?: Descriptor
      layers?: Descriptor[]
      subject?: Descriptor
    }
    try {
      json = JSON.parse(bytes.toString('utf8'))
    } catch {
      throw this.refused('UNSUPPORTED_MEDIA_TYPE', 'MANIFEST_INVALID', what, 'not JSON')
    }
    const r = this.repo(repo)
    const missing: string[] = []
    if (Array.isArray(json.manifests)) {
      for (const m of json.manifests) if (!r.manifests.has(m.digest)) missing.push(m.digest)
    } else {
      const refs = [...(json.config ? [json.config] : []), ...(json.layers ?? [])]
      for (const b of refs) {
        if (b.urls && b.urls.length > 0) continue
        if (!r.blobs.has(b.digest)) missing.push(b.digest)
      }
    }
    if (missing.length > 0) {
      throw this.refused(
        'REGISTRY_ERROR',
        'MANIFEST_BLOB_UNKNOWN',
        what,
        `blob unknown to registry: ${missing[0]}`,
      )
    }
    r.manifests.set(digest, { bytes: Buffer.from(bytes), mediaType })
    if (!isDigest(reference)) r.tags.set(reference, digest)
    return { digest, subjectHandled: json.subject !== undefined }
  }

  async deleteManifest(repo: string, digest: string): Promise<void> {
    await this.enter('deleteManifest', repo, digest)
    const r = this.repos.get(repo)
    if (!r?.manifests.delete(digest)) throw this.notFound('MANIFEST_UNKNOWN', `manifest ${repo}@${digest}`)
    for (const [tag, d] of r.tags) if (d === digest) r.tags.delete(tag)
  }

  async hasBlob(repo: string, digest: string): Promise<boolean> {
    await this.enter('hasBlob', repo, digest)
    return this.hasBlobNow(repo, digest)
  }

  async getBlob(repo: string, desc: Descriptor, offset = 0): Promise<Readable> {
    await this.enter('getBlob', repo, desc.digest + (offset > 0 ? ` from=${offset}` : ''))
    const fault = this.getBlobFaults.get(desc.digest)
    if (fault && fault.remaining > 0) {
      fault.remaining--
      throw fault.error
    }
    const stored = this.repos.get(repo)?.blobs.get(desc.digest)
    if (!stored) throw this.notFound('BLOB_UNKNOWN', `blob ${repo}@${desc.digest}`)
    let bytes = Buffer.from(stored)
    const corrupt = this.corrupt.get(desc.digest)
    if (corrupt && corrupt.remaining > 0) {
      corrupt.remaining--
      bytes[0] = (bytes[0] ?? 0) ^ 0xff
      if (bytes.length === 0) bytes = Buffer.from([0])
    }
    const chunks: Buffer[] = []
    for (let i = offset; i < bytes.length; i += this.chunkSize)
      chunks.push(bytes.subarray(i, i + this.chunkSize))
    return Readable.from(chunks, { objectMode: false })
  }

  async putBlob(repo: string, desc: Descriptor, body: Readable, session?: string): Promise<void> {
    await this.enter('putBlob', repo, desc.digest + (session ? ` session=${session}` : ''))
    const parts: Buffer[] = []
    // a stream error (e.g. the caller's digest check) rejects here, and nothing is committed
    for await (const chunk of body) {
      parts.push(Buffer.from(chunk as Buffer))
      const pause = this.delayMs.putBlob
      if (pause) await sleep(pause)
    }
    const bytes = Buffer.concat(parts)
    const what = `upload blob ${repo}@${desc.digest.slice(0, 19)}`
    if (bytes.length !== desc.size) {
      throw this.refused(
        'DIGEST_MISMATCH',
        'SIZE_INVALID',
        what,
        `${bytes.length} bytes, expected ${desc.size}`,
      )
    }
    if (sha256(bytes) !== desc.digest) {
      throw this.refused(
        'DIGEST_MISMATCH',
        'DIGEST_INVALID',
        what,
        'provided digest did not match uploaded content',
      )
    }
    this.repo(repo).blobs.set(desc.digest, bytes)
  }

  async mountBlob(repo: string, digest: string, fromRepo: string): Promise<MountResult> {
    await this.enter('mountBlob', repo, `${digest} from=${fromRepo}`)
    const bytes = this.repos.get(fromRepo)?.blobs.get(digest)
    if (!bytes) return { mounted: false }
    this.repo(repo).blobs.set(digest, bytes)
    return { mounted: true }
  }

  async listTags(repo: string): Promise<string[]> {
    await this.enter('listTags', repo)
    if (!this.repos.has(repo)) throw this.notFound('NAME_UNKNOWN', `tags of ${repo}`)
    return this.tags(repo)
  }

  async listRepositories(): Promise<string[]> {
    await this.enter('listRepositories')
    return [...this.repos.keys()].sort()
  }

  async referrers(repo: string, digest: string): Promise<Descriptor[] | undefined> {
    await this.enter('referrers', repo, digest)
    const out: Descriptor[] = []
    for (const [d, m] of this.repos.get(repo)?.manifests ?? []) {
      let json: { subject?: Descriptor; artifactType?: string; config?: Descriptor }
      try {
        json = JSON.parse(m.bytes.toString('utf8'))
      } catch {
        continue
      }
      if (json.subject?.digest !== digest) continue
      const artifactType = json.artifactType ?? json.config?.mediaType
      out.push({
        mediaType: m.mediaType,
        digest: d,
        size: m.bytes.length,
        ...(artifactType && { artifactType }),
      })
    }
    return out
  }

  // ---- internals ----

  private async enter(op: Op, ...args: string[]): Promise<void> {
    this.log.push([op, ...args].join(' '))
    const ms = op === 'putBlob' ? 0 : this.delayMs[op]
    if (ms) await sleep(ms)
    else await new Promise((resolve) => setImmediate(resolve))
  }

  private repo(name: string): Repo {
    let r = this.repos.get(name)
    if (!r) {
      r = { blobs: new Map(), manifests: new Map(), tags: new Map() }
      this.repos.set(name, r)
    }
    return r
  }

  private lookup(repo: string, ref: string): { digest: string; stored: StoredManifest } | undefined {
    const r = this.repos.get(repo)
    if (!r) return undefined
    const digest = isDigest(ref) ? ref : r.tags.get(ref)
    const stored = digest === undefined ? undefined : r.manifests.get(digest)
    return digest !== undefined && stored ? { digest, stored } : undefined
  }

  private notFound(registryCode: string, what: string): ImgsyncError {
    return new ImgsyncError('NOT_FOUND', `${this.name}: ${what}: not found`, { status: 404, registryCode })
  }

  /** what HttpRegistry reports for distribution's 400 answers (see errorForStatus) */
  private refused(
    code: 'DIGEST_MISMATCH' | 'UNSUPPORTED_MEDIA_TYPE' | 'REGISTRY_ERROR',
    registryCode: string,
    what: string,
    message: string,
  ): ImgsyncError {
    return new ImgsyncError(code, `${this.name}: ${what}: ${registryCode} ${message}`, {
      status: 400,
      registryCode,
    })
  }
}
