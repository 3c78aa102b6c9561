// A hostile OCI registry for tests: a node:http server on 127.0.0.1 that speaks enough of the
// distribution API to be the SOURCE of `sync tag`, `sync repo` and `rule trigger`, and answers with
// whatever a test programs into it — names that break the grammar, broken graphs, malformed JSON,
// endless lists, endless or trickled bodies, terminal escapes in error messages.
//
// Request targets are taken raw from req.url: no `..` collapsing, no percent-decoding. The repository
// name is what lies between `/v2/` and the LAST `/manifests/`, `/blobs/`, `/referrers/` or a trailing
// `/tags/list`, so `/v2/app/manifests/../../victim/manifests/latest` asks repository
// `app/manifests/../../victim` for `latest`. Lookups then try the raw strings and, as a registry that
// decodes its paths would, the percent-decoded ones (`sha256%3A…`). Every request is logged (method,
// raw url, status, bytes).
//
// Every generated body is streamed with backpressure from a small reused buffer, stops when the
// socket closes, and is cut by a safety cap (`maxStreamBytes`) so a client that never stops reading
// cannot fill the disk of the machine running the tests. close() destroys every socket and timer.
import { createHash, randomBytes } from 'node:crypto'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { EMPTY_JSON, MEDIA_TYPES } from './fixtures.js'

export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  artifactType?: string
  platform?: { os: string; architecture: string; variant?: string }
  annotations?: Record<string, string>
}

export type RequestKind = 'ping' | 'catalog' | 'tags' | 'manifest' | 'blob' | 'referrers' | 'other'

export interface HostileRequest {
  method: string
  /** the raw request target, exactly as received */
  url: string
  /** url before the first '?' (raw) */
  path: string
  /** url after the first '?' ('' if none), raw */
  query: string
  kind: RequestKind
  /** repository name (raw), for tags / manifest / blob / referrers */
  name?: string
  /** manifest reference, blob digest or referrers subject (raw) */
  ref?: string
  /** a query parameter (decoded, since only the path must stay raw) */
  param(name: string): string | undefined
}

export interface LoggedRequest {
  method: string
  url: string
  kind: RequestKind
  status: number
  /** body bytes written so far */
  bytes: number
  at: number
}

type Headers = Record<string, string | number | undefined>

/** How to answer one request. */
export type Behaviour =
  /** a plain answer */
  | { kind: 'reply'; status?: number; headers?: Headers; body?: string | Buffer }
  /**
   * a body generated while it is sent, chunked unless `contentLength` is given; the iterator is
   * pulled only as fast as the socket drains and dropped when the client goes away
   */
  | {
      kind: 'stream'
      status?: number
      headers?: Headers
      contentLength?: number
      body: () => Iterator<Buffer>
    }
  /** headers at once (Content-Length = body.length), then one byte every `intervalMs` */
  | { kind: 'trickle'; status?: number; headers?: Headers; body: Buffer; intervalMs: number }
  /** full control */
  | { kind: 'custom'; handle: (req: IncomingMessage, res: ServerResponse, r: HostileRequest) => void }

export type BehaviourFn = (r: HostileRequest) => Behaviour | undefined

export interface ManifestEntry {
  /** the Docker-Content-Digest header (any string) */
  digest: string
  mediaType: string
  /** the body, when served plainly */
  bytes?: Buffer
  /** Content-Length on HEAD (default bytes.length; omitted when neither is known) */
  size?: number
  /** extra or replaced headers on HEAD and GET; undefined removes one */
  headers?: Headers
  /** how GET answers instead of sending `bytes` */
  get?: Behaviour | BehaviourFn
  /** how HEAD answers instead of 200 with the headers */
  head?: Behaviour | BehaviourFn
}

export interface BlobEntry {
  bytes?: Buffer
  /** Content-Length on HEAD when there are no bytes */
  size?: number
  get?: Behaviour | BehaviourFn
}

export interface BuiltImage {
  /** the manifest as stored */
  entry: ManifestEntry
  digest: string
  bytes: Buffer
  descriptor: Descriptor
  config: Descriptor
  layers: Descriptor[]
}

export interface HostileOptions {
  /** bytes one generated answer may send before its socket is destroyed (default 2 GiB) */
  maxStreamBytes?: number
  /** requests kept in the log; older ones are dropped and counted (default 200,000) */
  maxLog?: number
}

export const OCI_INDEX = MEDIA_TYPES.ociIndex
export const OCI_MANIFEST = MEDIA_TYPES.ociManifest
const GiB = 1024 * 1024 * 1024

export function sha256(bytes: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`
}

/** JSON as compact bytes. */
export function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value))
}

/** An OCI image index (bytes) listing `children`. */
export function indexBytes(children: unknown[], extra: Record<string, unknown> = {}): Buffer {
  return jsonBytes({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: children, ...extra })
}

/** An OCI image manifest (bytes) with this config and these layers (descriptors taken as given). */
export function manifestBytes(
  config: unknown,
  layers: unknown[],
  extra: Record<string, unknown> = {},
): Buffer {
  return jsonBytes({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers, ...extra })
}

/**
 * `depth` OCI indexes, each listing the next one by its real sha256 digest, the deepest listing
 * `leaf`; built bottom-up. Returns them top first (the top is what a tag should point at).
 */
export function nestedIndexes(depth: number, leaf: Descriptor): { bytes: Buffer; digest: string }[] {
  const out: { bytes: Buffer; digest: string }[] = []
  let child: Descriptor = leaf
  for (let i = 0; i < depth; i++) {
    const bytes = indexBytes([child])
    const digest = sha256(bytes)
    out.push({ bytes, digest })
    child = { mediaType: OCI_INDEX, digest, size: bytes.length }
  }
  return out.reverse()
}

/** Parses a raw request target into kind, repository name and reference, without decoding anything. */
export function parseTarget(method: string, url: string): HostileRequest {
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  const query = q === -1 ? '' : url.slice(q + 1)
  const params = new URLSearchParams(query)
  const base = { method, url, path, query, param: (n: string) => params.get(n) ?? undefined }
  if (path === '/v2/' || path === '/v2') return { ...base, kind: 'ping' }
  if (path === '/v2/_catalog') return { ...base, kind: 'catalog' }
  // normally `/v2/<name>/...`; a client that collapsed `..` may have left /v2 behind: `/<name>/...`
  const rest = path.startsWith('/v2/') ? path.slice(4) : path.slice(1)
  if (rest.endsWith('/tags/list')) return { ...base, kind: 'tags', name: rest.slice(0, -'/tags/list'.length) }
  let best: { kind: RequestKind; at: number; marker: string } | undefined
  for (const [kind, marker] of [
    ['manifest', '/manifests/'],
    ['blob', '/blobs/'],
    ['referrers', '/referrers/'],
  ] as const) {
    const at = rest.lastIndexOf(marker)
    if (at > 0 && (!best || at > best.at)) best = { kind, at, marker }
  }
  if (!best) return { ...base, kind: 'other' }
  return {
    ...base,
    kind: best.kind,
    name: rest.slice(0, best.at),
    ref: rest.slice(best.at + best.marker.length),
  }
}

/** One repository of the hostile registry: tags, manifests and blobs, all keyed by raw strings. */
export class HostileRepo {
  /** served by tag and listed verbatim, in insertion order, by tags/list */
  readonly tags = new Map<string, ManifestEntry>()
  /** served by reference: any string, not only real digests */
  readonly manifests = new Map<string, ManifestEntry>()
  readonly blobs = new Map<string, BlobEntry>()
  /** what tags/list lists instead of the keys of `tags` (any JSON values, verbatim) */
  tagNames?: unknown[]
  /** how tags/list answers instead of listing */
  tagList?: Behaviour | BehaviourFn
  /**
   * referrers of a subject: descriptors (answered as an OCI index), a behaviour, or undefined for
   * 404 (no referrers API). Without a function: 404.
   */
  referrers?: (subject: string, r: HostileRequest) => Descriptor[] | Behaviour | undefined

  constructor(
    readonly name: string,
    private readonly registry: HostileRegistry,
  ) {}

  /** Stores a blob under its sha256 (or under `digest`, any string); returns its descriptor. */
  blob(bytes: Buffer, mediaType: string = MEDIA_TYPES.ociLayerGzip, digest = sha256(bytes)): Descriptor {
    const entry = { bytes }
    this.blobs.set(digest, entry)
    this.registry.blobs.set(digest, entry)
    return { mediaType, digest, size: bytes.length }
  }

  /**
   * Stores manifest bytes under `digest` (default: their sha256) and, given `tag`, under that tag
   * too (any string). Returns the entry; `entry.get` / `head` may be set afterwards.
   */
  manifest(bytes: Buffer, mediaType: string, tag?: string, digest = sha256(bytes)): ManifestEntry {
    const entry: ManifestEntry = { digest, mediaType, bytes }
    this.manifests.set(digest, entry)
    this.registry.manifests.set(digest, entry)
    if (tag !== undefined) this.tags.set(tag, entry)
    return entry
  }

  /** Tags an entry under any string. */
  tag(name: string, entry: ManifestEntry): ManifestEntry {
    this.tags.set(name, entry)
    return entry
  }

  /** A valid OCI image (config + one small random layer + manifest), optionally tagged. */
  image(tag?: string, opts: { layerBytes?: number; extra?: Record<string, unknown> } = {}): BuiltImage {
    const layerData = randomBytes(opts.layerBytes ?? 1024 + Math.floor(Math.random() * 3072))
    const layer = this.blob(layerData, MEDIA_TYPES.ociLayerGzip)
    const config = this.blob(
      jsonBytes({
        architecture: 'amd64',
        os: 'linux',
        config: { Cmd: ['/bin/app'] },
        rootfs: { type: 'layers', diff_ids: [sha256(layerData)] },
        // unique per image, so no two images share a digest
        nonce: randomBytes(8).toString('hex'),
      }),
      MEDIA_TYPES.ociConfig,
    )
    const bytes = manifestBytes(config, [layer], opts.extra ?? {})
    const entry = this.manifest(bytes, OCI_MANIFEST, tag)
    return {
      entry,
      digest: entry.digest,
      bytes,
      descriptor: { mediaType: OCI_MANIFEST, digest: entry.digest, size: bytes.length },
      config,
      layers: [layer],
    }
  }

  /** An OCI artifact with `subject` (empty config, one small layer), stored by digest, untagged. */
  artifact(subject: Descriptor, note: string): BuiltImage {
    const config = this.blob(EMPTY_JSON, MEDIA_TYPES.ociEmpty)
    const layer = this.blob(Buffer.from(`{"note":${JSON.stringify(note)}}`), MEDIA_TYPES.spdx)
    const bytes = manifestBytes(config, [layer], {
      artifactType: MEDIA_TYPES.spdx,
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      annotations: { 'org.example.note': note },
    })
    const entry = this.manifest(bytes, OCI_MANIFEST)
    return {
      entry,
      digest: entry.digest,
      bytes,
      descriptor: {
        mediaType: OCI_MANIFEST,
        digest: entry.digest,
        size: bytes.length,
        artifactType: MEDIA_TYPES.spdx,
      },
      config,
      layers: [layer],
    }
  }
}

export class HostileRegistry {
  readonly host: string
  readonly url: string
  readonly port: number
  /** every request, oldest first (bounded by maxLog; `dropped` counts the ones let go) */
  readonly log: LoggedRequest[] = []
  dropped = 0
  /** manifests and blobs of every repository by digest: a fallback for names a client mangled */
  readonly manifests = new Map<string, ManifestEntry>()
  readonly blobs = new Map<string, BlobEntry>()
  /** what _catalog lists (verbatim); default: repositories created with listed !== false */
  catalog?: unknown[]
  /** how _catalog answers instead of listing */
  catalogAnswer?: Behaviour | BehaviourFn
  private readonly repos = new Map<string, HostileRepo>()
  private readonly unlisted = new Set<string>()
  private readonly raw = new Map<string, ManifestEntry>()
  private readonly hooks: { match: (r: HostileRequest) => boolean; answer: Behaviour | BehaviourFn }[] = []
  private readonly sockets = new Set<Socket>()
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly maxStreamBytes: number
  private readonly maxLog: number

  private constructor(
    private readonly server: http.Server,
    opts: HostileOptions,
  ) {
    const { port } = server.address() as AddressInfo
    this.port = port
    this.host = `127.0.0.1:${port}`
    this.url = `http://127.0.0.1:${port}`
    this.maxStreamBytes = opts.maxStreamBytes ?? 2 * GiB
    this.maxLog = opts.maxLog ?? 200_000
  }

  static async start(opts: HostileOptions = {}): Promise<HostileRegistry> {
    const server = http.createServer()
    // loopback only, ever
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve())
    })
    const reg = new HostileRegistry(server, opts)
    server.on('connection', (s: Socket) => {
      reg.sockets.add(s)
      s.once('close', () => reg.sockets.delete(s))
    })
    server.on('request', (req, res) => reg.handle(req, res))
    // a client that sends garbage gets its socket closed, not an exception in the test process
    server.on('clientError', (_err, socket) => socket.destroy())
    return reg
  }

  /** The repository `name` (raw), created on first use; `listed: false` keeps it out of the default catalog. */
  repo(name: string, opts: { listed?: boolean } = {}): HostileRepo {
    let r = this.repos.get(name)
    if (!r) {
      r = new HostileRepo(name, this)
      this.repos.set(name, r)
    }
    if (opts.listed === false) this.unlisted.add(name)
    return r
  }

  /**
   * Serves `entry` for HEAD/GET of exactly this raw path (the part before '?', or the whole raw
   * target), whatever the name parsing says: for paths a client would send after collapsing `..`,
   * cutting at '#' or '?', or encoding.
   */
  at(rawPath: string, entry: ManifestEntry): void {
    this.raw.set(rawPath, entry)
  }

  /** Answers matching requests with `answer` (a function may return undefined to pass). Checked first. */
  intercept(match: (r: HostileRequest) => boolean, answer: Behaviour | BehaviourFn): void {
    this.hooks.push({ match, answer })
  }

  /** Logged requests matching `pred`. */
  requests(pred: (e: LoggedRequest) => boolean = () => true): LoggedRequest[] {
    return this.log.filter(pred)
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t)
    this.timers.clear()
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    for (const s of this.sockets) s.destroy()
    this.server.closeAllConnections()
    await closed
  }

  // ---- request handling

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const r = parseTarget(req.method ?? 'GET', req.url ?? '/')
    const entry: LoggedRequest = {
      method: r.method,
      url: r.url,
      kind: r.kind,
      status: 0,
      bytes: 0,
      at: Date.now(),
    }
    this.log.push(entry)
    if (this.log.length > this.maxLog) {
      this.log.shift()
      this.dropped++
    }
    // the request body (none expected) is drained so the connection stays usable
    req.resume()
    try {
      this.send(req, res, r, entry, this.route(r))
    } catch (err) {
      if (!res.headersSent) this.send(req, res, r, entry, errorAnswer(500, 'UNKNOWN', (err as Error).message))
      else res.destroy()
    }
  }

  private route(r: HostileRequest): Behaviour {
    for (const h of this.hooks) {
      if (!h.match(r)) continue
      const answer = typeof h.answer === 'function' ? h.answer(r) : h.answer
      if (answer) return answer
    }
    const raw = this.raw.get(r.url) ?? this.raw.get(r.path) ?? this.raw.get(decoded(r.path) ?? '')
    if (raw && (r.method === 'GET' || r.method === 'HEAD')) return manifestAnswer(raw, r)
    if (r.method !== 'GET' && r.method !== 'HEAD')
      return errorAnswer(405, 'UNSUPPORTED', 'this registry is read-only')
    switch (r.kind) {
      case 'ping':
        return json(200, {})
      case 'catalog':
        return this.catalogAnswer ? pick(this.catalogAnswer, r) : this.listCatalog(r)
      case 'tags': {
        const repo = lookup(r, (name) => this.repos.get(name))
        if (!repo) return errorAnswer(404, 'NAME_UNKNOWN', 'repository name not known to registry')
        if (repo.tagList) return pick(repo.tagList, r)
        return page(r, `/v2/${r.name}/tags/list`, repo.tagNames ?? [...repo.tags.keys()], (names) => ({
          name: r.name,
          tags: names,
        }))
      }
      case 'manifest': {
        const found = lookup(r, (name, ref) => {
          const repo = this.repos.get(name)
          return repo?.tags.get(ref) ?? repo?.manifests.get(ref) ?? this.manifests.get(ref)
        })
        if (!found) return errorAnswer(404, 'MANIFEST_UNKNOWN', 'manifest unknown')
        return manifestAnswer(found, r)
      }
      case 'blob': {
        let ref = r.ref ?? ''
        const found = lookup(r, (name, key) => {
          const blob = this.repos.get(name)?.blobs.get(key) ?? this.blobs.get(key)
          if (blob) ref = key
          return blob
        })
        if (!found) return errorAnswer(404, 'BLOB_UNKNOWN', 'blob unknown to registry')
        if (r.method === 'GET' && found.get) return pick(found.get, r)
        const size = found.bytes?.length ?? found.size
        return {
          kind: 'reply',
          headers: {
            'content-type': 'application/octet-stream',
            'docker-content-digest': ref,
            ...(size !== undefined && { 'content-length': size }),
          },
          body: found.bytes,
        }
      }
      case 'referrers': {
        // the subject as a digest: decoded when it was percent-encoded (a hook answers [] for unknown ones)
        const name = decoded(r.name ?? '') ?? r.name ?? ''
        const answer = this.repos.get(name)?.referrers?.(decoded(r.ref ?? '') ?? r.ref ?? '', r)
        if (!answer) return errorAnswer(404, 'NAME_UNKNOWN', 'referrers API not found')
        if (!Array.isArray(answer)) return answer
        return { kind: 'reply', headers: { 'content-type': OCI_INDEX }, body: indexBytes(answer) }
      }
      default:
        return errorAnswer(404, 'UNSUPPORTED', 'not a registry path')
    }
  }

  private listCatalog(r: HostileRequest): Behaviour {
    const names = this.catalog ?? [...this.repos.keys()].filter((n) => !this.unlisted.has(n))
    return page(r, '/v2/_catalog', names, (repositories) => ({ repositories }))
  }

  private send(
    req: IncomingMessage,
    res: ServerResponse,
    r: HostileRequest,
    entry: LoggedRequest,
    b: Behaviour,
  ): void {
    const head = req.method === 'HEAD'
    if (b.kind === 'custom') {
      res.once('finish', () => {
        entry.status = res.statusCode
      })
      b.handle(req, res, r)
      return
    }
    entry.status = b.status ?? 200
    if (b.kind === 'reply') {
      const body = typeof b.body === 'string' ? Buffer.from(b.body) : b.body
      const headers = clean({ 'content-length': body?.length ?? 0, ...b.headers })
      res.writeHead(entry.status, headers)
      if (head || !body) {
        res.end()
        return
      }
      entry.bytes = body.length
      res.end(body)
      return
    }
    if (b.kind === 'trickle') {
      res.writeHead(entry.status, clean({ ...b.headers, 'content-length': b.body.length }))
      if (head) {
        res.end()
        return
      }
      let sent = 0
      const timer = setInterval(() => {
        if (res.destroyed || sent >= b.body.length) {
          stop()
          if (!res.destroyed) res.end()
          return
        }
        res.write(b.body.subarray(sent, sent + 1))
        sent++
        entry.bytes = sent
      }, b.intervalMs)
      timer.unref()
      this.timers.add(timer)
      const stop = () => {
        clearInterval(timer)
        this.timers.delete(timer)
      }
      res.once('close', stop)
      return
    }
    // stream
    const headers = clean({
      ...b.headers,
      ...(b.contentLength !== undefined
        ? { 'content-length': b.contentLength }
        : { 'transfer-encoding': 'chunked' }),
    })
    res.writeHead(entry.status, headers)
    if (head) {
      res.end()
      return
    }
    const it = b.body()
    const cap = this.maxStreamBytes
    const step = () => {
      while (!res.destroyed) {
        if (entry.bytes >= cap) {
          // safety valve: a client that never stops reading must not fill the disk
          res.destroy()
          return
        }
        const next = it.next()
        if (next.done) {
          res.end()
          return
        }
        entry.bytes += next.value.length
        if (!res.write(next.value)) {
          res.once('drain', step)
          return
        }
      }
    }
    res.once('close', () => it.return?.())
    step()
  }
}

export function startHostileRegistry(opts: HostileOptions = {}): Promise<HostileRegistry> {
  return HostileRegistry.start(opts)
}

// ---- answers

function decoded(text: string): string | undefined {
  try {
    const out = decodeURIComponent(text)
    return out === text ? undefined : out
  } catch {
    return undefined
  }
}

/**
 * Looks a request up by its raw name and reference, then (as a registry that decodes its paths
 * would) by their percent-decoded forms. The split into name and reference is always the raw one,
 * so an encoded '/' never becomes a separator.
 */
function lookup<T>(r: HostileRequest, find: (name: string, ref: string) => T | undefined): T | undefined {
  const name = r.name ?? ''
  const ref = r.ref ?? ''
  return (
    find(name, ref) ??
    ((decoded(name) ?? decoded(ref)) ? find(decoded(name) ?? name, decoded(ref) ?? ref) : undefined)
  )
}

function clean(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k.toLowerCase()] = String(v)
  return out
}

function pick(answer: Behaviour | BehaviourFn, r: HostileRequest): Behaviour {
  return (typeof answer === 'function' ? answer(r) : answer) ?? errorAnswer(404, 'UNKNOWN', 'no answer')
}

export function json(status: number, value: unknown, headers: Headers = {}): Behaviour {
  return {
    kind: 'reply',
    status,
    headers: { 'content-type': 'application/json', ...headers },
    body: jsonBytes(value),
  }
}

/** A registry error document `{"errors":[{code, message}]}`; the message is sent as given. */
export function errorAnswer(status: number, code: string, message: string, headers: Headers = {}): Behaviour {
  return json(status, { errors: [{ code, message, detail: null }] }, headers)
}

function manifestAnswer(m: ManifestEntry, r: HostileRequest): Behaviour {
  const size = m.bytes?.length ?? m.size
  const headers: Headers = {
    'content-type': m.mediaType,
    'docker-content-digest': m.digest,
    ...(size !== undefined && { 'content-length': size }),
    ...m.headers,
  }
  const custom = r.method === 'HEAD' ? m.head : m.get
  if (custom) return pick(custom, r)
  if (r.method === 'HEAD') return { kind: 'reply', headers, body: undefined }
  return { kind: 'reply', headers, body: m.bytes ?? Buffer.alloc(0) }
}

/** distribution-style paging of a name list: `n` and `last`, a Link to the next page when more remain. */
function page(
  r: HostileRequest,
  path: string,
  names: unknown[],
  body: (names: unknown[]) => unknown,
): Behaviour {
  const n = Number(r.param('n') ?? names.length)
  const last = r.param('last')
  const start = last === undefined ? 0 : names.indexOf(last) + 1
  const size = Number.isSafeInteger(n) && n > 0 ? n : names.length
  const slice = names.slice(start, start + size)
  const more = start + size < names.length
  const next = String(slice[slice.length - 1])
  return json(
    200,
    body(slice),
    more ? { link: `<${path}?n=${size}&last=${encodeURIComponent(next)}>; rel="next"` } : {},
  )
}

// ---- generators (bounded memory: one reused chunk, generated on demand)

function* repeat(prefix: Buffer, fill: Buffer, total: number): Generator<Buffer> {
  let sent = 0
  if (prefix.length > 0) {
    sent += prefix.length
    yield prefix
  }
  while (sent < total) {
    const n = Math.min(fill.length, total - sent)
    sent += n
    yield n === fill.length ? fill : fill.subarray(0, n)
  }
}

/** A chunked body of `total` bytes (Infinity: for ever), starting with `prefix`, padded with `pad`. */
export function generated(
  total: number,
  opts: { status?: number; headers?: Headers; prefix?: string; pad?: string; contentLength?: number } = {},
): Behaviour {
  const fill = Buffer.alloc(64 * 1024, opts.pad ?? 'a')
  const prefix = Buffer.from(opts.prefix ?? '')
  return {
    kind: 'stream',
    status: opts.status,
    headers: opts.headers,
    contentLength: opts.contentLength,
    body: () => repeat(prefix, fill, total),
  }
}

/** One tag-list page naming `count` tags (t0, t1, …), streamed; no Link. */
export function hugeTagPage(name: string, count: number): Behaviour {
  function* body(): Generator<Buffer> {
    yield Buffer.from(`{"name":${JSON.stringify(name)},"tags":[`)
    for (let i = 0; i < count; i += 1000) {
      const names: string[] = []
      for (let j = i; j < Math.min(count, i + 1000); j++) names.push(`"t${j}"`)
      yield Buffer.from(`${i === 0 ? '' : ','}${names.join(',')}`)
    }
    yield Buffer.from(']}')
  }
  return { kind: 'stream', headers: { 'content-type': 'application/json' }, body }
}

/**
 * Paging without end: every page holds `perPage` new names and a Link to another new page. For a
 * tag list (`/v2/<name>/tags/list`) or the catalog (`/v2/_catalog`).
 */
export function endlessPages(kind: 'tags' | 'catalog', perPage = 100): BehaviourFn {
  return (r) => {
    const pageNo = Number(r.param('page') ?? 0)
    const names = Array.from({ length: perPage }, (_, i) =>
      kind === 'tags' ? `p${pageNo}-${i}` : `endless/p${pageNo}-${i}`,
    )
    const path = kind === 'tags' ? `/v2/${r.name}/tags/list` : '/v2/_catalog'
    return json(200, kind === 'tags' ? { name: r.name, tags: names } : { repositories: names }, {
      link: `<${path}?n=${perPage}&page=${pageNo + 1}&last=${encodeURIComponent(names[perPage - 1] ?? '')}>; rel="next"`,
    })
  }
}

/**
 * Referrers without end: the referrers of `roots`, and of every artifact made here, are one new
 * artifact whose subject is the one asked for. Artifacts are made lazily and stored by digest (the
 * oldest forgotten past `keep`); anything else has no referrers (an empty index, so the API exists).
 */
export function endlessReferrers(
  repo: HostileRepo,
  roots: Descriptor[],
  keep = 100_000,
): NonNullable<HostileRepo['referrers']> {
  const known = new Map<string, Descriptor>(roots.map((d) => [d.digest, d]))
  const order: string[] = []
  let n = 0
  return (subject) => {
    const d = known.get(subject)
    if (!d) return []
    const made = repo.artifact(d, `endless-${n++}`)
    known.set(made.digest, made.descriptor)
    order.push(made.digest)
    if (order.length > keep) {
      const old = order.shift()!
      known.delete(old)
      repo.manifests.delete(old)
    }
    return [made.descriptor]
  }
}
