// Chunked blob uploads over the distribution API: POST to open a session, PATCH with Content-Range
// for each chunk, GET for where a session stands after a broken request, PUT ?digest= to commit,
// DELETE to give up. Each answer's Location is where the next request goes.
import { Readable } from 'node:stream'
import { ImgsyncError } from '../errors.js'
import type { BlobUpload, ChunkedUploads } from './api.js'
import { pushScope } from './auth.js'
import { drain, header } from './bounded-body.js'
import { checkDigest, repositoryPath } from './names.js'
import type { RegistryResponse, RegistryTransport } from './transport.js'

/** `Range: 0-<last>` of an upload status: the bytes the registry holds (0-0 reads as none). */
function heldBytes(res: RegistryResponse): number | undefined {
  const m = /^(?:bytes=)?0-(\d+)$/.exec(header(res.headers, 'range') ?? '')
  if (!m) return undefined
  const last = Number(m[1])
  return last === 0 ? 0 : last + 1
}

export class HttpUploads implements ChunkedUploads {
  constructor(
    private readonly name: string,
    private readonly transport: RegistryTransport,
    /** the registry entry's upload.chunkSize; a 413 answer lowers it for the rest of the run */
    public chunkSize?: number,
  ) {}

  async begin(repo: string, session?: string): Promise<BlobUpload> {
    if (session) return { url: session, offset: 0 }
    const what = `start upload to ${repo}`
    const res = await this.transport.send({
      method: 'POST',
      path: `${repositoryPath(repo, `${this.name}: ${what}`)}/blobs/uploads/`,
      scopes: [pushScope(repo)],
      what,
    })
    await drain(res.body)
    const min = Number(header(res.headers, 'oci-chunk-min-length'))
    return {
      url: this.location(res, repo, what),
      offset: 0,
      ...(Number.isSafeInteger(min) && min > 0 && { minChunk: min }),
    }
  }

  async append(repo: string, upload: BlobUpload, chunk: Buffer[]): Promise<void> {
    const length = chunk.reduce((n, b) => n + b.length, 0)
    const what = `upload chunk to ${repo} at ${upload.offset}`
    const res = await this.transport.send({
      method: 'PATCH',
      path: upload.url,
      headers: {
        'content-type': 'application/octet-stream',
        'content-range': `${upload.offset}-${upload.offset + length - 1}`,
        'content-length': String(length),
      },
      // a PATCH is not repeated as it is: after a failure the caller asks where the session stands
      body: Readable.from(chunk),
      scopes: [pushScope(repo)],
      what,
      blob: true,
    })
    await drain(res.body)
    upload.url = this.location(res, repo, what)
    upload.offset = heldBytes(res) ?? upload.offset + length
  }

  async status(repo: string, upload: BlobUpload): Promise<number | undefined> {
    const what = `upload status at ${repo}`
    const res = await this.transport.send({
      method: 'GET',
      path: upload.url,
      scopes: [pushScope(repo)],
      allow: [400, 404, 416],
      what,
    })
    await drain(res.body)
    if (res.status !== 204 && res.status !== 200) return undefined
    if (header(res.headers, 'location')) upload.url = this.location(res, repo, what)
    return heldBytes(res) ?? 0
  }

  async commit(repo: string, upload: BlobUpload, digest: string): Promise<void> {
    const what = `commit upload to ${repo}`
    const url = new URL(upload.url)
    url.searchParams.set('digest', checkDigest(digest, `${this.name}: ${what}`))
    const res = await this.transport.send({
      method: 'PUT',
      path: url.toString(),
      headers: { 'content-type': 'application/octet-stream', 'content-length': '0' },
      scopes: [pushScope(repo)],
      what,
    })
    await drain(res.body)
  }

  async cancel(repo: string, upload: BlobUpload): Promise<void> {
    try {
      const res = await this.transport.send({
        method: 'DELETE',
        path: upload.url,
        scopes: [pushScope(repo)],
        allow: [400, 404, 405],
        what: `cancel upload to ${repo}`,
      })
      await drain(res.body)
    } catch {
      // the session expires on its own; nothing more to do
    }
  }

  /**
   * The Location of an upload answer, resolved against the request URL; on the registry's own
   * origin it must stay under this repository's uploads (a hostile answer must not aim our next
   * request elsewhere there).
   */
  location(res: RegistryResponse, repo: string, what: string): string {
    const text = header(res.headers, 'location')
    if (!text)
      throw new ImgsyncError('REGISTRY_ERROR', `${this.name}: ${what}: the registry sent no Location`)
    const url = this.transport.absoluteUrl(text, res.url, what)
    const prefix = `${repositoryPath(repo, `${this.name}: ${what}`)}/blobs/uploads/`
    const sameOrigin = url.origin === new URL(this.transport.origin).origin
    if ((sameOrigin && !url.pathname.startsWith(prefix)) || this.transport.pointsInside(url)) {
      throw new ImgsyncError(
        'REGISTRY_ERROR',
        `${this.name}: ${what}: the upload Location points elsewhere`,
        {
          suggestions: ['the registry answered with an upload URL outside this repository; it is not used'],
        },
      )
    }
    return url.toString()
  }
}
