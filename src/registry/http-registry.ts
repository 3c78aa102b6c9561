import { PassThrough, type Readable } from 'node:stream'
import { ImgsyncError } from '../errors.js'
import {
  BLOB_STREAM_BUFFER,
  type Manifest,
  type ManifestInfo,
  type MountResult,
  type PutManifestResult,
  type RegistryApi,
} from './api.js'
import { pullScope, pushScope } from './auth.js'
import { digestMatches, sha256Digest } from './digest.js'
import { type Descriptor, MANIFEST_ACCEPT, MediaTypes } from './media-types.js'
import {
  errorForNetwork,
  type RegistryResponse,
  RegistryTransport,
  responseHeader,
  type TransportOptions,
} from './transport.js'

/** Manifests above this are refused rather than buffered (distribution's own limit is 4 MiB). */
const MAX_MANIFEST_BYTES = 8 * 1024 * 1024
const TAGS_PAGE = 1000
/** reads of a manifest body that broke off mid-way (the request itself has its own retries) */
const MANIFEST_BODY_ATTEMPTS = 3

/** A JSON answer that could not be read: cut off (NETWORK/TIMEOUT, temporary) or not JSON at all. */
function bodyError(err: unknown, host: string, what: string): ImgsyncError {
  if (err instanceof SyntaxError) {
    return new ImgsyncError('REGISTRY_ERROR', `${host}: ${what}: the answer is not valid JSON`, {
      suggestions: ['check that the host is an OCI registry (and not a proxy error page)'],
    })
  }
  return errorForNetwork(err, host, what)
}

function nextLink(res: RegistryResponse): string | undefined {
  const link = responseHeader(res.headers, 'link')
  const m = link?.match(/<([^>]+)>\s*;\s*rel="?next"?/)
  return m?.[1]
}

/** The distribution HTTP API as a RegistryApi. */
export class HttpRegistry implements RegistryApi {
  readonly name: string
  readonly transport: RegistryTransport

  constructor(opts: TransportOptions & { name?: string }) {
    this.transport = new RegistryTransport(opts)
    this.name = opts.name ?? opts.host
  }

  async headManifest(repo: string, reference: string): Promise<ManifestInfo | undefined> {
    const res = await this.transport.send({
      method: 'HEAD',
      path: `/v2/${repo}/manifests/${reference}`,
      headers: { accept: MANIFEST_ACCEPT },
      scopes: [pullScope(repo)],
      allow: [404],
      what: `manifest ${repo}:${reference}`,
    })
    await res.body.dump()
    if (res.status === 404) return undefined
    const digest = responseHeader(res.headers, 'docker-content-digest')
    const mediaType = (responseHeader(res.headers, 'content-type') ?? '').split(';')[0]!.trim()
    const size = Number(responseHeader(res.headers, 'content-length') ?? 0)
    if (!digest) {
      // some registries omit the digest on HEAD: hash the body instead
      const m = await this.getManifest(repo, reference)
      return { digest: m.digest, mediaType: m.mediaType, size: m.size }
    }
    return { digest, mediaType, size }
  }

  async getManifest(repo: string, reference: string): Promise<Manifest> {
    let bytes: Buffer
    let res: RegistryResponse
    for (let attempt = 1; ; attempt++) {
      res = await this.transport.send({
        method: 'GET',
        path: `/v2/${repo}/manifests/${reference}`,
        headers: { accept: MANIFEST_ACCEPT },
        scopes: [pullScope(repo)],
        what: `manifest ${repo}:${reference}`,
      })
      const declared = Number(responseHeader(res.headers, 'content-length') ?? 0)
      if (declared > MAX_MANIFEST_BYTES) {
        res.body.destroy()
        throw new ImgsyncError(
          'UNSUPPORTED_MEDIA_TYPE',
          `${this.name}: manifest ${repo}:${reference} is larger than 8 MiB`,
        )
      }
      try {
        bytes = Buffer.from(await res.body.arrayBuffer())
        break
      } catch (err) {
        // the body broke off (reset, truncated, idle): the GET is idempotent, so ask again
        const e = errorForNetwork(err, this.transport.host, `manifest ${repo}:${reference}`)
        if (!e.temporary || attempt >= MANIFEST_BODY_ATTEMPTS) throw e
      }
    }
    const mediaType = (responseHeader(res.headers, 'content-type') ?? '').split(';')[0]!.trim()
    const digest = reference.includes(':') ? reference : sha256Digest(bytes)
    if (reference.includes(':') && !digestMatches(bytes, reference)) {
      throw new ImgsyncError(
        'DIGEST_MISMATCH',
        `${this.name}: manifest ${repo}@${reference} does not match its digest`,
      )
    }
    return { bytes, digest, mediaType: mediaType || MediaTypes.ociManifest, size: bytes.length }
  }

  async putManifest(
    repo: string,
    reference: string,
    bytes: Buffer,
    mediaType: string,
  ): Promise<PutManifestResult> {
    const res = await this.transport.send({
      method: 'PUT',
      path: `/v2/${repo}/manifests/${reference}`,
      headers: { 'content-type': mediaType },
      body: bytes,
      scopes: [pushScope(repo)],
      what: `push manifest ${repo}:${reference}`,
    })
    await res.body.dump()
    const digest = responseHeader(res.headers, 'docker-content-digest') ?? sha256Digest(bytes)
    return { digest, subjectHandled: responseHeader(res.headers, 'oci-subject') !== undefined }
  }

  async deleteManifest(repo: string, digest: string): Promise<void> {
    const res = await this.transport.send({
      method: 'DELETE',
      path: `/v2/${repo}/manifests/${digest}`,
      scopes: [`repository:${repo}:delete`],
      what: `delete manifest ${repo}@${digest}`,
    })
    await res.body.dump()
  }

  async hasBlob(repo: string, digest: string): Promise<boolean> {
    const res = await this.transport.send({
      method: 'HEAD',
      path: `/v2/${repo}/blobs/${digest}`,
      scopes: [pullScope(repo)],
      allow: [404],
      what: `blob ${repo}@${digest.slice(0, 19)}`,
    })
    await res.body.dump()
    return res.status === 200
  }

  async getBlob(repo: string, desc: Descriptor): Promise<Readable> {
    const res = await this.transport.send({
      method: 'GET',
      path: `/v2/${repo}/blobs/${desc.digest}`,
      scopes: [pullScope(repo)],
      what: `blob ${repo}@${desc.digest.slice(0, 19)}`,
    })
    // errors while the body streams (reset, idle timeout) get the same codes as request errors
    const out = new PassThrough({ highWaterMark: BLOB_STREAM_BUFFER })
    res.body.on('error', (err) =>
      out.destroy(errorForNetwork(err, this.transport.host, `blob ${desc.digest.slice(0, 19)}`)),
    )
    res.body.pipe(out)
    return out
  }

  async mountBlob(repo: string, digest: string, fromRepo: string): Promise<MountResult> {
    try {
      const res = await this.transport.send({
        method: 'POST',
        path: `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(fromRepo)}`,
        scopes: [pushScope(repo), pullScope(fromRepo)],
        what: `mount blob into ${repo}`,
      })
      await res.body.dump()
      if (res.status === 201) return { mounted: true }
      const location = responseHeader(res.headers, 'location')
      return { mounted: false, session: location ? new URL(location, res.url).toString() : undefined }
    } catch {
      // a refused mount (Harbor answers 401 for an unknown source project) just means: upload
      return { mounted: false }
    }
  }

  async putBlob(repo: string, desc: Descriptor, body: Readable, session?: string): Promise<void> {
    let location = session
    if (!location) {
      const start = await this.transport.send({
        method: 'POST',
        path: `/v2/${repo}/blobs/uploads/`,
        scopes: [pushScope(repo)],
        what: `start upload to ${repo}`,
      })
      await start.body.dump()
      const loc = responseHeader(start.headers, 'location')
      if (!loc)
        throw new ImgsyncError('REGISTRY_ERROR', `${this.name}: upload to ${repo} returned no Location`)
      location = new URL(loc, start.url).toString()
    }
    const url = new URL(location)
    url.searchParams.set('digest', desc.digest)
    const res = await this.transport.send({
      method: 'PUT',
      path: url.toString(),
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
      body,
      scopes: [pushScope(repo)],
      what: `upload blob ${repo}@${desc.digest.slice(0, 19)}`,
    })
    await res.body.dump()
  }

  async listTags(repo: string): Promise<string[]> {
    const tags: string[] = []
    let path: string | undefined = `/v2/${repo}/tags/list?n=${TAGS_PAGE}`
    while (path) {
      let res: RegistryResponse
      let body: { tags?: string[] | null }
      for (let attempt = 1; ; attempt++) {
        res = await this.transport.send({
          method: 'GET',
          path,
          scopes: [pullScope(repo)],
          what: `tags of ${repo}`,
        })
        try {
          body = (await res.body.json()) as { tags?: string[] | null }
          break
        } catch (err) {
          // a list that broke off is asked for again, like a failed request
          const e = bodyError(err, this.transport.host, `tags of ${repo}`)
          if (!e.temporary || attempt >= MANIFEST_BODY_ATTEMPTS) throw e
        }
      }
      const page = body.tags ?? []
      tags.push(...page)
      const next = nextLink(res)
      path = next ? new URL(next, res.url).toString() : undefined
    }
    return tags
  }

  async listRepositories(): Promise<string[]> {
    const repos: string[] = []
    let path: string | undefined = `/v2/_catalog?n=${TAGS_PAGE}`
    while (path) {
      let res: RegistryResponse
      try {
        res = await this.transport.send({
          method: 'GET',
          path,
          scopes: ['registry:catalog:*'],
          what: 'catalog',
        })
      } catch (err) {
        if (err instanceof ImgsyncError && ['NOT_FOUND', 'DENIED', 'AUTH_FAILED'].includes(err.code)) {
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
      const body = (await res.body.json().catch((err: unknown) => {
        throw bodyError(err, this.transport.host, 'catalog')
      })) as { repositories?: string[] | null }
      repos.push(...(body.repositories ?? []))
      const next = nextLink(res)
      path = next ? new URL(next, res.url).toString() : undefined
    }
    return repos
  }

  async referrers(repo: string, digest: string): Promise<Descriptor[] | undefined> {
    const res = await this.transport.send({
      method: 'GET',
      path: `/v2/${repo}/referrers/${digest}`,
      headers: { accept: MediaTypes.ociIndex },
      scopes: [pullScope(repo)],
      allow: [404, 405, 400],
      what: `referrers of ${repo}@${digest.slice(0, 19)}`,
    })
    if (
      res.status !== 200 ||
      !(responseHeader(res.headers, 'content-type') ?? '').startsWith(MediaTypes.ociIndex)
    ) {
      await res.body.dump()
      return undefined
    }
    const body = (await res.body.json()) as { manifests?: Descriptor[] }
    return body.manifests ?? []
  }
}
