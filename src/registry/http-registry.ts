import { PassThrough, type Readable, Transform } from 'node:stream'
import { ImgsyncError } from '../errors.js'
import {
  BLOB_STREAM_BUFFER,
  type BlobUpload,
  type Manifest,
  type ManifestInfo,
  type MountResult,
  type PutManifestResult,
  type RegistryApi,
  type RequestCounts,
  type TransferSlots,
} from './api.js'
import { pullScope, pushScope } from './auth.js'
import { discard, drain, header } from './bounded-body.js'
import { ByteRate } from './byte-rate.js'
import { digestMatches, sha256Digest } from './digest.js'
import { errorForNetwork } from './http-errors.js'
import { HttpUploads } from './http-uploads.js'
import { LIMITS } from './limits.js'
import { type Descriptor, MANIFEST_ACCEPT, MediaTypes, parseManifest } from './media-types.js'
import { blobPath, checkDigest, isValidDigest, manifestPath, referrersPath, repositoryPath } from './names.js'
import { noteResumed } from './request-stats.js'
import { type RegistryResponse, RegistryTransport, type TransportOptions } from './transport.js'

const PAGE_SIZE = 1000
/** errors that mean "this registry has no catalog for us" rather than a failure */
const NO_CATALOG = ['NOT_FOUND', 'DENIED', 'AUTH_FAILED']

function short(digest: string): string {
  return digest.slice(0, 19)
}

function mediaTypeOf(res: RegistryResponse): string {
  return (header(res.headers, 'content-type') ?? '').split(';')[0]!.trim()
}

/** The first byte a 206 answer holds (`Content-Range: bytes 100-199/200`). */
function contentRangeStart(res: RegistryResponse): number | undefined {
  const m = /^bytes (\d+)-/.exec(header(res.headers, 'content-range') ?? '')
  return m ? Number(m[1]) : undefined
}

/** A stage that drops the first `n` bytes. */
function skipBytes(n: number): Transform {
  let left = n
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (left >= chunk.length) {
        left -= chunk.length
        return cb()
      }
      const rest = chunk.subarray(left)
      left = 0
      cb(null, rest)
    },
  })
}

/** The distribution HTTP API as a RegistryApi. Every name goes into a URL only through names.ts. */
export class HttpRegistry implements RegistryApi {
  readonly name: string
  readonly transport: RegistryTransport
  readonly capabilities = { mount: true, referrersApi: true, rememberTags: true, delete: true } as const
  readonly uploads: HttpUploads
  readonly bandwidth?: ByteRate
  /** the registry answered HEAD on a manifest with 405: manifests are read with GET */
  private headRefused = false

  constructor(opts: TransportOptions & { name?: string; chunkSize?: number; bandwidth?: number }) {
    this.transport = new RegistryTransport(opts)
    this.name = opts.name ?? opts.host
    this.uploads = new HttpUploads(this.name, this.transport, opts.chunkSize)
    if (opts.bandwidth) this.bandwidth = new ByteRate(opts.bandwidth)
  }

  /** the host's `blobs` lane, shared by every client of the host */
  get transferSlots(): TransferSlots {
    return this.transport.throttle
  }

  requestStats(): RequestCounts {
    return { ...this.transport.stats }
  }

  async headManifest(repo: string, reference: string): Promise<ManifestInfo | undefined> {
    if (this.headRefused) return this.manifestInfoByGet(repo, reference)
    const what = `manifest ${repo}:${reference}`
    const res = await this.transport.send({
      method: 'HEAD',
      path: manifestPath(repo, reference, `${this.name}: ${what}`),
      headers: { accept: MANIFEST_ACCEPT },
      scopes: [pullScope(repo)],
      allow: [404, 405],
      what,
    })
    await drain(res.body)
    if (res.status === 404) return undefined
    // a registry that refuses HEAD on manifests (405) is asked with GET from now on
    if (res.status === 405) this.headRefused = true
    const digest = res.status === 405 ? undefined : header(res.headers, 'docker-content-digest')
    // some registries omit the digest on HEAD: hash the body instead
    if (!digest) return this.manifestInfoByGet(repo, reference)
    checkDigest(digest, `${this.name}: ${what}: Docker-Content-Digest`)
    const size = Number(header(res.headers, 'content-length') ?? 0)
    return { digest, mediaType: mediaTypeOf(res), size: Number.isSafeInteger(size) ? size : 0 }
  }

  private async manifestInfoByGet(repo: string, reference: string): Promise<ManifestInfo | undefined> {
    try {
      const m = await this.getManifest(repo, reference)
      return { digest: m.digest, mediaType: m.mediaType, size: m.size }
    } catch (err) {
      if (err instanceof ImgsyncError && err.code === 'NOT_FOUND') return undefined
      throw err
    }
  }

  async getManifest(repo: string, reference: string): Promise<Manifest> {
    const what = `manifest ${repo}${reference.includes(':') ? '@' : ':'}${reference}`
    const { res, bytes } = await this.transport.read(
      {
        method: 'GET',
        path: manifestPath(repo, reference, `${this.name}: ${what}`),
        headers: { accept: MANIFEST_ACCEPT },
        scopes: [pullScope(repo)],
        what,
        pull: true,
      },
      LIMITS.manifestBytes,
    )
    const byDigest = reference.includes(':')
    // by tag, the registry's Docker-Content-Digest is what the bytes must hash to (a manifest read
    // whole instead of a HEAD first is checked all the same); a registry that sends none is trusted
    const claimed = header(res.headers, 'docker-content-digest')
    const expected = byDigest ? reference : isValidDigest(claimed) ? claimed : undefined
    if (expected !== undefined && !digestMatches(bytes, expected)) {
      throw new ImgsyncError(
        'DIGEST_MISMATCH',
        `${this.name}: manifest ${repo}${byDigest ? '@' : ':'}${reference} does not match its digest${byDigest ? '' : ` (${short(expected)}…, as the registry says)`}`,
      )
    }
    const digest = expected ?? sha256Digest(bytes)
    return { bytes, digest, mediaType: mediaTypeOf(res) || MediaTypes.ociManifest, size: bytes.length }
  }

  async putManifest(
    repo: string,
    reference: string,
    bytes: Buffer,
    mediaType: string,
  ): Promise<PutManifestResult> {
    const what = `push manifest ${repo}:${reference}`
    const res = await this.transport.send({
      method: 'PUT',
      path: manifestPath(repo, reference, `${this.name}: ${what}`),
      headers: { 'content-type': mediaType },
      body: bytes,
      scopes: [pushScope(repo)],
      what,
    })
    await drain(res.body)
    const stored = header(res.headers, 'docker-content-digest')
    const digest = isValidDigest(stored) ? stored : sha256Digest(bytes)
    return { digest, subjectHandled: header(res.headers, 'oci-subject') !== undefined }
  }

  async deleteManifest(repo: string, digest: string): Promise<void> {
    const what = `delete manifest ${repo}@${digest}`
    const res = await this.transport.send({
      method: 'DELETE',
      path: manifestPath(repo, digest, `${this.name}: ${what}`),
      scopes: [`repository:${repo}:delete`],
      what,
    })
    await drain(res.body)
  }

  async hasBlob(repo: string, digest: string): Promise<boolean> {
    const what = `blob ${repo}@${short(digest)}`
    const res = await this.transport.send({
      method: 'HEAD',
      path: blobPath(repo, digest, `${this.name}: ${what}`),
      scopes: [pullScope(repo)],
      allow: [404],
      what,
    })
    await drain(res.body)
    return res.status === 200
  }

  async getBlob(repo: string, desc: Descriptor, offset = 0): Promise<Readable> {
    const what = `blob ${repo}@${short(desc.digest)}`
    const res = await this.transport.send({
      method: 'GET',
      path: blobPath(repo, desc.digest, `${this.name}: ${what}`),
      ...(offset > 0 && { headers: { range: `bytes=${offset}-` } }),
      scopes: [pullScope(repo)],
      what,
      blob: true,
    })
    const resumed = res.status === 206 && contentRangeStart(res) === offset
    const declared = header(res.headers, 'content-length')
    if (declared !== undefined && Number(declared) !== (resumed ? desc.size - offset : desc.size)) {
      // known to be wrong before a byte is read: no need to stream it to find out
      discard(res.body)
      throw new ImgsyncError(
        'DIGEST_MISMATCH',
        `${this.name}: ${what}: the registry sends ${declared} bytes, but its descriptor declares ${desc.size}`,
        { suggestions: ['the source registry serves other content than its manifest names'] },
      )
    }
    if (resumed) noteResumed(offset)
    // errors while the body streams (reset, idle timeout) get the same codes as request errors
    const out = new PassThrough({ highWaterMark: BLOB_STREAM_BUFFER })
    res.body.on('error', (err) => out.destroy(errorForNetwork(err, this.transport.host, what)))
    out.on('close', () => {
      if (!res.body.readableEnded) discard(res.body)
    })
    // a registry that ignores Range sends the whole blob: the bytes before `offset` are skipped
    ;(offset > 0 && !resumed ? res.body.pipe(skipBytes(offset)) : res.body).pipe(out)
    return out
  }

  async mountBlob(repo: string, digest: string, fromRepo: string): Promise<MountResult> {
    const what = `mount blob into ${repo}`
    const query = `?mount=${encodeURIComponent(checkDigest(digest, `${this.name}: ${what}`))}&from=${encodeURIComponent(fromRepo)}`
    const res = await this.transport.send({
      method: 'POST',
      path: `${repositoryPath(repo, `${this.name}: ${what}`)}/blobs/uploads/${query}`,
      scopes: [pushScope(repo), pullScope(fromRepo)],
      // a refused mount (Harbor answers 401 for an unknown source project, others 403/404) means: upload
      allow: [400, 401, 403, 404, 405],
      what,
    })
    await drain(res.body)
    if (res.status === 201) return { mounted: true }
    if (res.status !== 202) return { mounted: false }
    return {
      mounted: false,
      session: header(res.headers, 'location') ? this.uploads.location(res, repo, what) : undefined,
    }
  }

  async putBlob(repo: string, desc: Descriptor, body: Readable, session?: string): Promise<void> {
    const what = `upload blob ${repo}@${short(desc.digest)}`
    let upload: BlobUpload | undefined
    try {
      upload = await this.uploads.begin(repo, session)
      const url = new URL(upload.url)
      url.searchParams.set('digest', checkDigest(desc.digest, `${this.name}: ${what}`))
      const res = await this.transport.send({
        method: 'PUT',
        path: url.toString(),
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
        body,
        scopes: [pushScope(repo)],
        what,
        blob: true,
      })
      await drain(res.body)
    } catch (err) {
      body.destroy()
      // the target keeps what a broken upload sent until the session ends: end it now
      if (upload) await this.uploads.cancel(repo, upload)
      throw err
    }
  }

  async listTags(repo: string): Promise<string[]> {
    return this.listPaged(`${repositoryPath(repo, `${this.name}: tags of ${repo}`)}/tags/list`, {
      field: 'tags',
      scopes: [pullScope(repo)],
      what: `tags of ${repo}`,
    })
  }

  async listRepositories(): Promise<string[]> {
    try {
      return await this.listPaged('/v2/_catalog', {
        field: 'repositories',
        scopes: ['registry:catalog:*'],
        what: 'catalog',
      })
    } catch (err) {
      if (err instanceof ImgsyncError && NO_CATALOG.includes(err.code)) {
        throw new ImgsyncError(
          'CATALOG_UNAVAILABLE',
          `${this.name}: the registry does not offer a repository catalog`,
          {
            suggestions: ['list the repositories in the rule (source.repositories: [name, ...])'],
          },
        )
      }
      throw err
    }
  }

  /**
   * A tag list or catalog, page by page through `Link: <...>; rel="next"`. Bounded: page size,
   * page count and entry count (LIMITS); a next page must stay on the same origin and endpoint,
   * and a page already read ends the walk (a loop). Names are returned as sent: callers check them.
   */
  private async listPaged(
    endpoint: string,
    opts: { field: 'tags' | 'repositories'; scopes: string[]; what: string },
  ): Promise<string[]> {
    const out: string[] = []
    const visited = new Set<string>()
    let path: string | undefined = `${endpoint}?n=${PAGE_SIZE}`
    for (let page = 1; path !== undefined; page++) {
      if (page > LIMITS.listPages) throw this.listTooLong(opts.what, `more than ${LIMITS.listPages} pages`)
      visited.add(path)
      const { res, bytes } = await this.transport.read(
        { method: 'GET', path, scopes: opts.scopes, what: opts.what },
        LIMITS.listPageBytes,
      )
      for (const name of this.pageEntries(bytes, opts.field, opts.what)) {
        if (out.length >= LIMITS.listEntries)
          throw this.listTooLong(opts.what, `more than ${LIMITS.listEntries} names`)
        out.push(name)
      }
      path = this.nextPage(res, endpoint, opts.what)
      if (path !== undefined && visited.has(path)) path = undefined
    }
    return out
  }

  private pageEntries(bytes: Buffer, field: string, what: string): string[] {
    let body: unknown
    try {
      body = JSON.parse(bytes.toString('utf8'))
    } catch {
      throw this.badList(what, 'the answer is not valid JSON')
    }
    const list =
      body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[field] : undefined
    if (list === undefined || list === null) return []
    if (!Array.isArray(list)) throw this.badList(what, `"${field}" is not a list`)
    const bad = list.findIndex((name) => typeof name !== 'string')
    if (bad >= 0) throw this.badList(what, `${field}[${bad}] is not a name`)
    return list as string[]
  }

  private nextPage(res: RegistryResponse, endpoint: string, what: string): string | undefined {
    const link = header(res.headers, 'link')
    const target = link?.match(/<([^>]+)>\s*;\s*rel="?next"?/)?.[1]
    if (target === undefined) return undefined
    const url = this.transport.absoluteUrl(target, res.url, what)
    if (url.origin !== new URL(this.transport.origin).origin || url.pathname !== endpoint) {
      throw this.badList(what, 'the next page is elsewhere (Link header)')
    }
    return `${url.pathname}${url.search}`
  }

  private badList(what: string, why: string): ImgsyncError {
    return new ImgsyncError('REGISTRY_ERROR', `${this.name}: ${what}: ${why}`, {
      suggestions: ['check that the host is an OCI registry (and not a proxy error page)'],
    })
  }

  private listTooLong(what: string, why: string): ImgsyncError {
    return new ImgsyncError('LIMIT_EXCEEDED', `${this.name}: ${what}: ${why}`, {
      suggestions: ['the registry keeps sending names; imgsync stops listing at this bound'],
    })
  }

  async referrers(repo: string, digest: string): Promise<Descriptor[] | undefined> {
    const what = `referrers of ${repo}@${short(digest)}`
    const { res, bytes } = await this.transport.read(
      {
        method: 'GET',
        path: referrersPath(repo, digest, `${this.name}: ${what}`),
        headers: { accept: MediaTypes.ociIndex },
        scopes: [pullScope(repo)],
        allow: [404, 405, 400],
        what,
      },
      LIMITS.manifestBytes,
    )
    if (res.status !== 200 || !mediaTypeOf(res).startsWith(MediaTypes.ociIndex)) return undefined
    return parseManifest(bytes, MediaTypes.ociIndex, `${this.name}: ${what}`).manifests
  }
}
