// A proxy with personalities: it sits in front of a real loopback distribution registry and, per
// instance, reproduces documented behaviours of real registries and of what sits in front of them
// (nginx body limits, Docker Hub / GHCR / ECR quirks, rate-limit storms, flaky links), so tests can
// run imgsync against each of them. Personalities combine freely. It counts every request by
// method and path kind, with arrival times and request-body bytes, for assertions.
//
// Only loopback addresses are ever used; bodies it holds are bounded; every wait ends when the
// proxy closes, and close() tears every connection down.
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { listenOnLoopback, sendBody, serverFor, sleepUntilAborted, trackSockets } from './net.js'

export type FaultKind = '503' | '429' | 'reset-response' | 'reset-request'

export interface StormSpec {
  /** the storm starts with the n-th request (1-based) the proxy receives */
  afterRequests: number
  /** every request arriving within this many ms of the storm's start gets 429 */
  durationMs: number
  /** the Retry-After the storm's answers carry */
  retryAfterSeconds: number
}

export interface FaultSpec {
  /** share of requests that fail, 0..1 */
  rate: number
  /** same seed, same requests (by arrival order) fail the same way */
  seed: number
  /** default all four; each request only gets a kind that fits it (see pickFault) */
  kinds?: FaultKind[]
}

export interface ResetRequestSpec {
  /** HTTP method; default any */
  method?: string
  /** tested against the request target (path and query) */
  path: RegExp
  /** which matching request (1-based) gets reset */
  nth: number
  /** only requests that announce at least this many body bytes (Content-Length) match, e.g. the chunks of one big blob */
  minBytes?: number
}

/** What a proxy instance behaves like. Every field is optional; they combine. */
export interface Personality {
  /** Docker Hub, older registries: GET /v2/<name>/referrers/<digest> → 404 (distribution 2.8's own "404 page not found") */
  noReferrersApi?: boolean
  /** GHCR, ECR without BLOB_MOUNTING: POST ...?mount=<d>&from=<r> is a plain POST: 202 and a fresh upload Location */
  mountFreshSession?: boolean
  /**
   * nginx client_max_body_size with proxy_request_buffering on: a request body larger than this
   * (by Content-Length, or counted while reading a chunked body) is answered 413 and never
   * forwarded; every other body is read completely before it is forwarded (with Content-Length),
   * so a client that breaks off mid-body never reaches the registry.
   */
  bodyLimit?: number
  /** Docker Hub (401), ECR / GHCR (404): /v2/_catalog answered so */
  noCatalog?: 401 | 404
  /**
   * The proxy pages tag lists and the catalog itself: it reads the whole list upstream, answers
   * `n` (capped at pageSize; pageSize when absent) entries after `last`, with
   * `Link: </v2/<name>/tags/list?n=<n>&last=<x>>; rel="next"` while more remain
   */
  pageSize?: number
  /** HEAD /v2/<name>/manifests/<ref> → 405 */
  noManifestHead?: 405
  /** Docker-Content-Digest stripped from manifest answers (HEAD and GET) */
  noDigestHeader?: boolean
  /** ECR: a blob upload POST or a manifest PUT to a repository without tags upstream → 404 NAME_UNKNOWN */
  noCreateOnPush?: boolean
  /** every 429 the proxy sends carries Retry-After as an HTTP date (rounded up to a whole second) */
  retryAfterDate?: boolean
  /** a burst of 429 for every request, starting at the n-th */
  storm?: StormSpec
  /** ms every request waits before it is handled (a slow round trip) */
  latency?: number
  /** bytes per second of the link, in each direction (request bodies in, response bodies out) */
  bandwidth?: number
  /** seeded random faults: 503, 429 (Retry-After: 1), a reset mid-response body, a reset mid-request body */
  faults?: FaultSpec
  /** reset the connection after half of the request body of the nth matching request; never forwarded */
  resetRequest?: ResetRequestSpec
}

export interface RegistryProxyOptions extends Personality {
  /** the registry behind the proxy: `http://127.0.0.1:PORT` */
  upstream: string
}

export type RequestKind =
  | 'ping'
  | 'manifest-head'
  | 'manifest-get'
  | 'manifest-put'
  | 'manifest-delete'
  | 'blob-head'
  | 'blob-get'
  | 'blob-delete'
  | 'upload-post'
  | 'upload-patch'
  | 'upload-put'
  | 'upload-get'
  | 'upload-delete'
  | 'tags'
  | 'catalog'
  | 'referrers'
  | 'other'

/**
 * What the proxy did itself: `storm`, `fault:<kind>`, `reset-request`, `body-limit`, `no-catalog`,
 * `no-referrers`, `no-manifest-head`, `no-create`, `fresh-session` (a mount made a plain POST),
 * `paged` (a list page the proxy cut), `no-digest` (the header was stripped)
 */
export type ProxyAction = string

export interface ProxiedRequest {
  /** arrival order, 1-based */
  seq: number
  /** Date.now() when the request arrived */
  at: number
  method: string
  /** path and query as received */
  url: string
  kind: RequestKind
  /** the repository named in the path */
  repo?: string
  /** request-body bytes received from the client (also of requests that were refused or reset) */
  bodyBytes: number
  /** status sent to the client; undefined when the connection broke before a status */
  status?: number
  /** whether (a complete copy of) the request went to the registry */
  forwarded: boolean
  action?: ProxyAction
  /** the Retry-After header value sent with a 429 */
  retryAfter?: string
  /** Date.now() that Retry-After asks the client to wait until */
  retryAt?: number
}

export interface ProxyCounts {
  requests: number
  byMethod: Record<string, number>
  byKind: Partial<Record<RequestKind, number>>
  /** request-body bytes received from clients */
  bodyBytes: number
  bodyBytesByKind: Partial<Record<RequestKind, number>>
}

export interface StormRecord {
  /** Date.now() of the request that started the storm */
  startedAt?: number
  endsAt?: number
  /** arrival time of every request that came in during the storm */
  arrivals: number[]
}

export interface RegistryProxy {
  /** `127.0.0.1:PORT`, for image references */
  host: string
  url: string
  port: number
  readonly personality: Personality
  /** every request so far, in arrival order (at most MAX_LOG) */
  readonly requests: readonly ProxiedRequest[]
  /** totals so far */
  counts(): ProxyCounts
  readonly storm: StormRecord
  close(): Promise<void>
}

const MAX_LOG = 1_000_000
/** bytes of a refused request body read and thrown away before the connection is closed */
const MAX_DISCARD = 256 * 1024 * 1024
/** how long a refused body may take to arrive (nginx lingering_time is 30 s) */
const LINGER_MS = 30_000
const MAX_WAIT_MS = 120_000
/** list pages read upstream for one paged answer, and names kept */
const MAX_UPSTREAM_PAGES = 1000
const MAX_LIST_NAMES = 1_000_000
const PIECE = 16 * 1024

const sleep = (ms: number, signal: AbortSignal) => sleepUntilAborted(ms, signal, MAX_WAIT_MS)

/** A uniform number in [0, 1) from (seed, n, salt): the same inputs always give the same number. */
export function seededRandom(seed: number, n: number, salt = 0): number {
  let h = (seed ^ Math.imul(n + 1, 0x9e3779b1) ^ Math.imul(salt + 1, 0x85ebca6b)) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d)
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b)
  h ^= h >>> 16
  return (h >>> 0) / 2 ** 32
}

/**
 * The fault (if any) for the seq-th request: the rate decides whether, then a kind among those
 * that fit it: 503 and 429 fit every request, reset-response a GET, reset-request a request with a body.
 */
export function pickFault(
  spec: FaultSpec,
  seq: number,
  method: string,
  hasBody: boolean,
): FaultKind | undefined {
  if (seededRandom(spec.seed, seq, 1) >= spec.rate) return undefined
  const kinds = (spec.kinds ?? ['503', '429', 'reset-response', 'reset-request']).filter(
    (k) => (k !== 'reset-response' || method === 'GET') && (k !== 'reset-request' || hasBody),
  )
  if (kinds.length === 0) return undefined
  return kinds[Math.floor(seededRandom(spec.seed, seq, 2) * kinds.length)]
}

const ROUTES: [RegExp, (method: string) => RequestKind][] = [
  [/^\/v2\/?$/, () => 'ping'],
  [/^\/v2\/_catalog$/, () => 'catalog'],
  [/^\/v2\/(.+)\/tags\/list$/, () => 'tags'],
  [/^\/v2\/(.+)\/manifests\/[^/]+$/, (m) => `manifest-${m.toLowerCase()}` as RequestKind],
  [/^\/v2\/(.+)\/blobs\/uploads\/[^/]*$/, (m) => `upload-${m.toLowerCase()}` as RequestKind],
  [/^\/v2\/(.+)\/blobs\/[^/]+$/, (m) => `blob-${m.toLowerCase()}` as RequestKind],
  [/^\/v2\/(.+)\/referrers\/[^/]+$/, () => 'referrers'],
]
const KNOWN_KINDS = new Set<string>([
  'manifest-head',
  'manifest-get',
  'manifest-put',
  'manifest-delete',
  'blob-head',
  'blob-get',
  'blob-delete',
  'upload-post',
  'upload-patch',
  'upload-put',
  'upload-get',
  'upload-delete',
])

/** The path kind and repository of a request. */
export function classify(method: string, url: string): { kind: RequestKind; repo?: string } {
  const path = url.split('?')[0] ?? ''
  for (const [re, kindOf] of ROUTES) {
    const m = re.exec(path)
    if (!m) continue
    const kind = kindOf(method)
    if (kind.includes('-') && !KNOWN_KINDS.has(kind)) return { kind: 'other', repo: m[1] }
    return { kind, repo: m[1] }
  }
  return { kind: 'other' }
}

/** Counts of `times` in consecutive windows of `sizeMs` from `start` (inclusive) to `end` (exclusive). */
export function countPerWindow(times: number[], start: number, end: number, sizeMs: number): number[] {
  const out: number[] = []
  for (let w = start; w < end; w += sizeMs) out.push(times.filter((t) => t >= w && t < w + sizeMs).length)
  return out
}

/** The most of `times` that fall within any `sizeMs` (a sliding window starting at each time). */
export function maxInSlidingWindow(times: number[], sizeMs: number): number {
  const sorted = [...times].sort((a, b) => a - b)
  let best = 0
  let j = 0
  for (let i = 0; i < sorted.length; i++) {
    while ((sorted[j] ?? Number.POSITIVE_INFINITY) < (sorted[i] ?? 0) - sizeMs + 1) j++
    best = Math.max(best, i - j + 1)
  }
  return best
}

function errorBody(code: string, message: string, detail?: unknown): string {
  return JSON.stringify({ errors: [{ code, message, ...(detail !== undefined && { detail }) }] })
}

/** A link of fixed bandwidth shared by every request in one direction. */
class Link {
  private next = 0
  constructor(private readonly bytesPerSecond: number) {}
  async take(bytes: number, signal: AbortSignal): Promise<void> {
    const now = Date.now()
    const start = Math.max(now, this.next)
    this.next = start + (bytes / this.bytesPerSecond) * 1000
    await sleep(this.next - now, signal)
  }
}

type ReadEnd = 'end' | 'stopped' | 'aborted'

/**
 * Reads a request body chunk by chunk; `onChunk` returning false stops reading (the rest stays
 * unread, the stream paused). Resolves how the reading ended.
 */
function readRequest(req: IncomingMessage, onChunk: (chunk: Buffer) => Promise<boolean>): Promise<ReadEnd> {
  if (req.readableEnded) return Promise.resolve('end')
  return new Promise((resolve) => {
    let done = false
    // the chunk being handled: 'end' may come right after the last 'data', before that is done
    let pending: Promise<void> = Promise.resolve()
    const finish = (how: ReadEnd) => {
      if (done) return
      done = true
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
      req.off('close', onClose)
      resolve(how)
    }
    const onData = (chunk: Buffer) => {
      req.pause()
      pending = pending.then(() =>
        done
          ? undefined
          : onChunk(chunk).then(
              (go) => {
                if (done) return
                if (go) req.resume()
                else finish('stopped')
              },
              () => finish('aborted'),
            ),
      )
    }
    const onEnd = () => {
      pending.then(() => finish('end'))
    }
    const onError = () => finish('aborted')
    const onClose = () => {
      if (!req.complete) finish('aborted')
    }
    req.on('data', onData)
    req.once('end', onEnd)
    req.once('error', onError)
    req.once('close', onClose)
    // a stream paused by an earlier read does not start flowing again on its own
    req.resume()
  })
}

export async function startRegistryProxy(opts: RegistryProxyOptions): Promise<RegistryProxy> {
  const upstream = new URL(opts.upstream)
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(upstream.hostname))
    throw new Error(`registry-proxy: upstream must be a loopback address, not ${upstream.host}`)
  if (opts.bodyLimit !== undefined && !(opts.bodyLimit > 0)) throw new Error('registry-proxy: bodyLimit > 0')
  if (opts.pageSize !== undefined && !(opts.pageSize > 0)) throw new Error('registry-proxy: pageSize > 0')
  if (opts.bandwidth !== undefined && !(opts.bandwidth > 0)) throw new Error('registry-proxy: bandwidth > 0')
  const { upstream: _, ...personality } = opts

  const closing = new AbortController()
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
  const sockets = new Set<Socket>()
  const log: ProxiedRequest[] = []
  const counts: ProxyCounts = { requests: 0, byMethod: {}, byKind: {}, bodyBytes: 0, bodyBytesByKind: {} }
  const storm: StormRecord = { arrivals: [] }
  const inLink = opts.bandwidth ? new Link(opts.bandwidth) : undefined
  const outLink = opts.bandwidth ? new Link(opts.bandwidth) : undefined
  let seqCounter = 0
  let resetMatches = 0

  /** Sends a request upstream; resolves its response once the headers are in. */
  const toUpstream = (
    method: string,
    path: string,
    headers: http.OutgoingHttpHeaders,
  ): { up: http.ClientRequest; response: Promise<IncomingMessage> } => {
    const up = http.request({ host: upstream.hostname, port: upstream.port, method, path, headers, agent })
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      up.once('response', resolve)
      up.on('error', reject)
    })
    // a rejection nobody awaits yet (the body is still being sent) must not crash the test process
    response.catch(() => undefined)
    return { up, response }
  }

  /** GETs a whole JSON answer upstream (small: lists), passing the client's credentials on. */
  const upstreamJson = async (
    path: string,
    authorization: string | undefined,
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> => {
    const { up, response } = toUpstream('GET', path, {
      host: `127.0.0.1:${port}`,
      accept: 'application/json',
      ...(authorization && { authorization }),
    })
    up.end()
    const res = await response
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of res) {
      size += (chunk as Buffer).length
      if (size > 64 * 1024 * 1024) throw new Error('registry-proxy: upstream list too large')
      chunks.push(chunk as Buffer)
    }
    return {
      status: res.statusCode ?? 502,
      headers: res.headers,
      text: Buffer.concat(chunks).toString('utf8'),
    }
  }

  /** Every name of a tag list or the catalog upstream, following its own Link pages. */
  const upstreamList = async (
    endpoint: string,
    field: 'tags' | 'repositories',
    authorization: string | undefined,
  ): Promise<
    { names: string[]; name?: string } | { status: number; headers: http.IncomingHttpHeaders; text: string }
  > => {
    const names: string[] = []
    let name: string | undefined
    let next: string | undefined = `${endpoint}?n=1000`
    for (let page = 0; next !== undefined; page++) {
      if (page >= MAX_UPSTREAM_PAGES) throw new Error('registry-proxy: too many upstream list pages')
      const res = await upstreamJson(next, authorization)
      if (res.status !== 200) return res
      const body = JSON.parse(res.text) as { name?: string } & Record<string, unknown>
      name ??= body.name
      const list = body[field]
      if (Array.isArray(list)) names.push(...(list as string[]))
      if (names.length > MAX_LIST_NAMES) throw new Error('registry-proxy: upstream list too long')
      const link = /<([^>]+)>\s*;\s*rel="?next"?/.exec(String(res.headers.link ?? ''))?.[1]
      const target = link ? new URL(link, 'http://upstream') : undefined
      next = target ? target.pathname + target.search : undefined
    }
    return { names, name }
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET'
    const url = req.url ?? '/'
    const { kind, repo } = classify(method, url)
    const entry: ProxiedRequest = {
      seq: ++seqCounter,
      at: Date.now(),
      method,
      url,
      kind,
      ...(repo !== undefined && { repo }),
      bodyBytes: 0,
      forwarded: false,
    }
    if (log.length < MAX_LOG) log.push(entry)
    counts.requests++
    counts.byMethod[method] = (counts.byMethod[method] ?? 0) + 1
    counts.byKind[kind] = (counts.byKind[kind] ?? 0) + 1

    const clientGone = new AbortController()
    res.on('close', () => clientGone.abort())
    const signal = AbortSignal.any([closing.signal, clientGone.signal])
    const length =
      req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length'])
    const hasBody =
      method !== 'GET' &&
      method !== 'HEAD' &&
      ((length !== undefined && length > 0) || req.headers['transfer-encoding'] !== undefined)

    const received = (n: number) => {
      entry.bodyBytes += n
      counts.bodyBytes += n
      counts.bodyBytesByKind[kind] = (counts.bodyBytesByKind[kind] ?? 0) + n
    }
    /** the next chunk of the body, counted, at the link's pace */
    const take = async (chunk: Buffer) => {
      received(chunk.length)
      if (inLink) await inLink.take(chunk.length, signal)
    }
    /** reads and throws away the rest of a body (bounded); false when it had to give up */
    const discard = async (): Promise<boolean> => {
      if (!hasBody) return true
      let thrown = 0
      const timer = setTimeout(() => req.socket.destroy(), LINGER_MS)
      try {
        const how = await readRequest(req, async (chunk) => {
          await take(chunk)
          thrown += chunk.length
          return thrown <= MAX_DISCARD
        })
        if (how === 'stopped') req.socket.destroy()
        return how === 'end'
      } finally {
        clearTimeout(timer)
      }
    }
    const reply = (status: number, headers: Record<string, string>, body: string, action?: ProxyAction) => {
      if (res.destroyed) return
      entry.status = status
      if (action) entry.action = action
      const bytes = Buffer.from(body)
      res.writeHead(status, { 'content-length': String(bytes.length), ...headers })
      res.end(method === 'HEAD' ? undefined : bytes)
    }
    const retryAfter = (seconds: number): Record<string, string> => {
      const now = Date.now()
      if (opts.retryAfterDate) {
        // an HTTP date has whole seconds: round up so the client waits at least `seconds`
        const until = Math.ceil((now + seconds * 1000) / 1000) * 1000
        entry.retryAt = until
        entry.retryAfter = new Date(until).toUTCString()
      } else {
        entry.retryAt = now + seconds * 1000
        entry.retryAfter = String(seconds)
      }
      return { 'retry-after': entry.retryAfter }
    }
    const tooMany = async (seconds: number, action: ProxyAction) => {
      if (!(await discard())) return
      const headers = { 'content-type': 'application/json', ...retryAfter(seconds) }
      reply(
        429,
        headers,
        errorBody('TOOMANYREQUESTS', `registry-proxy: too many requests (${action})`),
        action,
      )
    }
    /** reads half of the body (or what comes), then RSTs the connection; nothing is forwarded */
    const resetMidRequest = async (action: ProxyAction) => {
      entry.action = action
      const half = length !== undefined && Number.isFinite(length) ? Math.floor(length / 2) : 32 * 1024
      let seen = 0
      if (half > 0) {
        await readRequest(req, async (chunk) => {
          await take(chunk)
          seen += chunk.length
          return seen < half
        })
      }
      if (!req.socket.destroyed) req.socket.resetAndDestroy()
    }

    if (opts.latency) await sleep(opts.latency, signal)
    if (signal.aborted) return

    // a storm: every request in its window gets 429
    if (opts.storm) {
      const s = opts.storm
      if (storm.startedAt === undefined && entry.seq >= s.afterRequests) {
        storm.startedAt = entry.at
        storm.endsAt = entry.at + s.durationMs
      }
      if (storm.startedAt !== undefined && storm.endsAt !== undefined && entry.at < storm.endsAt) {
        storm.arrivals.push(entry.at)
        return tooMany(s.retryAfterSeconds, 'storm')
      }
    }

    // the nth matching request is reset half-way through its body
    if (opts.resetRequest) {
      const r = opts.resetRequest
      const bigEnough = r.minBytes === undefined || (length !== undefined && length >= r.minBytes)
      if ((r.method === undefined || r.method === method) && r.path.test(url) && bigEnough) {
        resetMatches++
        if (resetMatches === r.nth) return resetMidRequest('reset-request')
      }
    }

    // seeded random faults
    const fault = opts.faults ? pickFault(opts.faults, entry.seq, method, hasBody) : undefined
    if (fault === '503') {
      if (!(await discard())) return
      return reply(
        503,
        { 'content-type': 'application/json' },
        errorBody('UNAVAILABLE', 'registry-proxy: service unavailable'),
        'fault:503',
      )
    }
    if (fault === '429') return tooMany(1, 'fault:429')
    if (fault === 'reset-request') return resetMidRequest('fault:reset-request')

    // personalities that answer instead of the registry
    if (kind === 'catalog' && opts.noCatalog) {
      if (opts.noCatalog === 401)
        return reply(
          401,
          { 'content-type': 'application/json' },
          errorBody('UNAUTHORIZED', 'authentication required', [
            { Type: 'registry', Class: '', Name: 'catalog', Action: '*' },
          ]),
          'no-catalog',
        )
      return reply(
        404,
        { 'content-type': 'application/json' },
        errorBody('NOT_FOUND', 'not found'),
        'no-catalog',
      )
    }
    if (kind === 'referrers' && opts.noReferrersApi) {
      // what distribution 2.8 itself answers for a route it does not have
      if (!(await discard())) return
      return reply(
        404,
        { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' },
        '404 page not found\n',
        'no-referrers',
      )
    }
    if (kind === 'manifest-head' && opts.noManifestHead) {
      return reply(opts.noManifestHead, { allow: 'GET, PUT, DELETE' }, '', 'no-manifest-head')
    }
    if (opts.noCreateOnPush && repo !== undefined && (kind === 'upload-post' || kind === 'manifest-put')) {
      const tags = await upstreamJson(`/v2/${repo}/tags/list`, req.headers.authorization).catch(
        () => undefined,
      )
      let has = false
      try {
        has =
          tags?.status === 200 &&
          ((JSON.parse(tags.text) as { tags?: string[] | null }).tags ?? []).length > 0
      } catch {
        // not a tag list: treat the repository as missing
      }
      if (!has) {
        if (!(await discard())) return
        return reply(
          404,
          { 'content-type': 'application/json' },
          errorBody(
            'NAME_UNKNOWN',
            `The repository with name '${repo}' does not exist in the registry with id '000000000000'`,
            { name: repo },
          ),
          'no-create',
        )
      }
    }
    if (opts.pageSize && method === 'GET' && (kind === 'tags' || kind === 'catalog')) {
      return servePage(kind, repo, entry, req, res, reply)
    }

    // the body: buffered (bodyLimit) or streamed
    let path = url
    if (opts.mountFreshSession && kind === 'upload-post' && /[?&]mount=/.test(url)) {
      const u = new URL(url, 'http://proxy')
      u.searchParams.delete('mount')
      u.searchParams.delete('from')
      path = u.pathname + u.search
      entry.action = 'fresh-session'
    }
    const headers: http.OutgoingHttpHeaders = { ...req.headers }
    // the registry builds upload Locations from Host: keep the proxy's, so clients come back through it
    let buffered: Buffer | undefined
    if (hasBody && opts.bodyLimit !== undefined) {
      const limit = opts.bodyLimit
      const tooLarge = async () => {
        // like nginx: answer at once, then (lingering close) take in and drop what the client still
        // sends, within bounds; reading starts first so that node does not drop the rest uncounted
        const drained = discard()
        reply(
          413,
          { 'content-type': 'application/json' },
          errorBody(
            'REQUEST_ENTITY_TOO_LARGE',
            `request body larger than ${limit} bytes (client_max_body_size)`,
          ),
          'body-limit',
        )
        await drained
      }
      if (length !== undefined && length > limit) return tooLarge()
      const chunks: Buffer[] = []
      let size = 0
      const how = await readRequest(req, async (chunk) => {
        await take(chunk)
        size += chunk.length
        if (size > limit) return false
        chunks.push(chunk)
        return true
      })
      if (how === 'stopped') return tooLarge()
      if (how === 'aborted') return // the client broke off: the registry never hears of it
      buffered = Buffer.concat(chunks)
      delete headers['transfer-encoding']
      headers['content-length'] = String(buffered.length)
    }

    const { up, response } = toUpstream(method, path, headers)
    if (buffered) up.end(buffered)
    else if (!hasBody) up.end()
    else {
      const how = await readRequest(req, async (chunk) => {
        await take(chunk)
        if (up.destroyed) return false
        if (!up.write(chunk))
          await new Promise<void>((resolve) => {
            const done = () => {
              up.off('drain', done)
              up.off('close', done)
              resolve()
            }
            up.on('drain', done)
            up.on('close', done)
          })
        return !up.destroyed
      })
      // a client that gives up mid-upload must not leave the registry waiting for the rest
      if (how === 'aborted') {
        up.destroy()
        return
      }
      if (how === 'end') up.end()
      else await discard()
    }
    let upRes: IncomingMessage
    try {
      upRes = await response
    } catch {
      res.destroy()
      return
    }
    entry.forwarded = true
    const outHeaders: http.OutgoingHttpHeaders = { ...upRes.headers }
    if (opts.noDigestHeader && (kind === 'manifest-get' || kind === 'manifest-head')) {
      delete outHeaders['docker-content-digest']
      entry.action ??= 'no-digest'
    }
    const declared = Number(upRes.headers['content-length'] ?? Number.NaN)
    const cutAt =
      fault === 'reset-response' ? (Number.isFinite(declared) ? Math.floor(declared / 2) : PIECE) : undefined
    if (fault === 'reset-response') entry.action = 'fault:reset-response'
    entry.status = upRes.statusCode ?? 502
    res.writeHead(entry.status, outHeaders)
    await sendBody(method, upRes, res, () => pump(upRes, res, cutAt, signal))
  }

  /** Streams an upstream body to the client at the link's pace; `cutAt`: RST after that many bytes. */
  const pump = async (
    upRes: IncomingMessage,
    res: ServerResponse,
    cutAt: number | undefined,
    signal: AbortSignal,
  ): Promise<void> => {
    let sent = 0
    const write = (buf: Buffer) =>
      new Promise<void>((resolve) => {
        if (res.destroyed || buf.length === 0) return resolve()
        res.write(buf, () => resolve())
      })
    const cut = async () => {
      // let the client take in the headers and the partial body before the connection breaks
      await sleep(50, signal)
      upRes.destroy()
      const socket = res.socket
      if (socket && !socket.destroyed) socket.resetAndDestroy()
      else res.destroy()
    }
    for await (const raw of upRes) {
      const chunk = raw as Buffer
      for (let i = 0; i < chunk.length; i += PIECE) {
        if (signal.aborted) {
          upRes.destroy()
          res.destroy()
          return
        }
        let piece = chunk.subarray(i, i + PIECE)
        if (cutAt !== undefined && sent + piece.length >= cutAt) piece = piece.subarray(0, cutAt - sent)
        if (outLink) await outLink.take(piece.length, signal)
        await write(piece)
        sent += piece.length
        if (cutAt !== undefined && sent >= cutAt) return cut()
      }
    }
    if (cutAt !== undefined) return cut()
    res.end()
  }

  /** A page of a tag list or the catalog, cut by the proxy from the whole list upstream. */
  const servePage = async (
    kind: 'tags' | 'catalog',
    repo: string | undefined,
    entry: ProxiedRequest,
    req: IncomingMessage,
    res: ServerResponse,
    reply: (status: number, headers: Record<string, string>, body: string, action?: ProxyAction) => void,
  ): Promise<void> => {
    const pageSize = opts.pageSize ?? 100
    const u = new URL(req.url ?? '/', 'http://proxy')
    const endpoint = u.pathname
    const field = kind === 'tags' ? 'tags' : 'repositories'
    let list: Awaited<ReturnType<typeof upstreamList>>
    try {
      list = await upstreamList(endpoint, field, req.headers.authorization)
    } catch {
      res.destroy()
      return
    }
    entry.forwarded = true
    if (!('names' in list)) {
      const ct = list.headers['content-type']
      return reply(list.status, ct ? { 'content-type': String(ct) } : {}, list.text)
    }
    const asked = Number(u.searchParams.get('n') ?? Number.NaN)
    const n = Number.isInteger(asked) && asked > 0 ? Math.min(asked, pageSize) : pageSize
    const last = u.searchParams.get('last')
    const sorted = [...list.names].sort()
    const from = last === null ? 0 : sorted.findIndex((x) => x > last)
    const page = from < 0 ? [] : sorted.slice(from, from + n)
    const more = from >= 0 && from + n < sorted.length
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' }
    if (more) {
      const lastName = page[page.length - 1] ?? ''
      headers.link = `<${endpoint}?n=${n}&last=${encodeURIComponent(lastName)}>; rel="next"`
    }
    const body =
      kind === 'tags'
        ? JSON.stringify({ name: list.name ?? repo, tags: page })
        : JSON.stringify({ repositories: page })
    reply(200, headers, body, 'paged')
  }

  const server = serverFor(handle)
  trackSockets(server, sockets)
  const { port } = await listenOnLoopback(server)

  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    port,
    personality,
    requests: log,
    counts: () => structuredClone(counts),
    storm,
    async close() {
      closing.abort()
      for (const s of sockets) s.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      agent.destroy()
    },
  }
}
