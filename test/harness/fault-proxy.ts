// A scriptable fault-injecting HTTP proxy for tests: it sits in front of a real loopback registry and,
// per rule (method + path regex + which matching request), answers with an error status, resets or
// truncates the connection, flips a byte, stalls, throttles, or redirects a blob GET to a second
// loopback listener that records the headers it receives. Everything else is forwarded as is.
// Only loopback addresses are ever used; every wait is bounded and ends when the proxy closes.
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { BasicAuth } from './fixtures.js'
import { listenOnLoopback, sendBody, serverFor, sleepUntilAborted, trackSockets } from './net.js'

export type Fault =
  /** answer with this status (body: a registry error document); a 401 carries the Bearer challenge in bearer mode */
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  /**
   * RST the connection: during the response after `afterBytes` of the body (headers already sent),
   * or during the request after `afterBytes` of the uploaded body
   */
  | { kind: 'reset'; afterBytes?: number; during?: 'response' | 'request' }
  /** send the upstream headers (Content-Length kept) and `afterBytes` of the body, then close cleanly */
  | { kind: 'truncate'; afterBytes?: number }
  /** flip one byte of the response body at `offset` (default: the middle) */
  | { kind: 'corrupt'; offset?: number }
  /** no bytes for `ms`: before the response starts, or after `afterBytes` of its body; then carry on */
  | { kind: 'stall'; ms: number; afterBytes?: number }
  /** wait `ms`, then forward normally */
  | { kind: 'delay'; ms: number }
  /** wait until `until` settles (at most two minutes), then forward normally: a gate the test opens */
  | { kind: 'hold'; until: Promise<unknown> }
  /** forward the body at about `bytesPerSecond` */
  | { kind: 'throttle'; bytesPerSecond: number }
  /** answer a GET with a redirect to the same path on the blob host (a different origin) */
  | { kind: 'redirect'; status?: 301 | 302 | 303 | 307 | 308 }

export interface FaultRule {
  /** name for stats; default `rule<N>` */
  name?: string
  /** HTTP method(s); default any */
  method?: string | string[]
  /** tested against the request target (path and query) */
  path: RegExp
  /** let this many matching requests pass before injecting (default 0) */
  skip?: number
  /** inject on this many matching requests (after `skip`), then pass; default: every one */
  times?: number
  /** inject only on these matching requests (1-based); overrides skip/times */
  nth?: number[]
  fault: Fault
}

export interface RuleStats {
  name: string
  /** requests that matched method and path */
  matched: number
  /** of those, how many got the fault */
  injected: number
  /** Date.now() of each matching request, in arrival order */
  times: number[]
  /** Date.now() of each injected request */
  injectedTimes: number[]
}

export interface ProxyLogEntry {
  at: number
  method: string
  url: string
  /** status sent to the client; undefined when the connection was broken before a status */
  status?: number
  /** name of the rule whose fault was applied */
  fault?: string
  authorization: boolean
}

export interface BlobHostRequest {
  at: number
  method: string
  url: string
  headers: http.IncomingHttpHeaders
}

export interface BlobHost {
  /** `127.0.0.1:PORT` */
  host: string
  url: string
  readonly requests: BlobHostRequest[]
}

export interface FaultProxyOptions {
  /** the registry behind the proxy: `http://127.0.0.1:PORT` */
  upstream: string
  /** credentials the blob host uses to read from the upstream (when it needs them) */
  upstreamAuth?: BasicAuth
  /**
   * Emulate a bearer-token registry in front of an anonymous upstream: /v2/ asks for a token from
   * `<proxy>/token`, every /v2/ request needs a live `Bearer tok-N`, and expireTokens() invalidates them.
   */
  bearer?: boolean
  rules?: FaultRule[]
}

export interface FaultProxy {
  /** `127.0.0.1:PORT`, for image references */
  host: string
  url: string
  port: number
  blobHost: BlobHost
  readonly log: ProxyLogEntry[]
  /** tokens handed out by /token (bearer mode) */
  readonly tokensIssued: number
  /** adds a rule (after the existing ones) and returns its live stats */
  add(rule: FaultRule): RuleStats
  /** replaces every rule */
  setRules(rules: FaultRule[]): RuleStats[]
  stats(name: string): RuleStats
  /** invalidates every token issued so far (bearer mode) */
  expireTokens(): void
  close(): Promise<void>
}

const MAX_STALL_MS = 120_000
const CHUNK = 16 * 1024

const sleep = (ms: number, signal: AbortSignal) => sleepUntilAborted(ms, signal, MAX_STALL_MS)

function matches(rule: FaultRule, method: string, url: string): boolean {
  if (rule.method !== undefined) {
    const methods = Array.isArray(rule.method) ? rule.method : [rule.method]
    if (!methods.includes(method)) return false
  }
  return rule.path.test(url)
}

function shouldInject(rule: FaultRule, n: number): boolean {
  if (rule.nth) return rule.nth.includes(n)
  const skip = rule.skip ?? 0
  if (n <= skip) return false
  return rule.times === undefined || n - skip <= rule.times
}

function registryError(status: number): string {
  const code =
    status === 429
      ? 'TOOMANYREQUESTS'
      : status === 401
        ? 'UNAUTHORIZED'
        : status === 404
          ? 'NOT_FOUND'
          : 'UNAVAILABLE'
  return JSON.stringify({ errors: [{ code, message: `fault-proxy: injected HTTP ${status}` }] })
}

/** Collects a request body (uploads through the proxy are small test blobs). */
async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const upstream = new URL(opts.upstream)
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(upstream.hostname))
    throw new Error(`fault-proxy: upstream must be a loopback address, not ${upstream.host}`)
  const closing = new AbortController()
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
  const sockets = new Set<Socket>()
  const log: ProxyLogEntry[] = []
  let rules: { rule: FaultRule; stats: RuleStats }[] = []
  let ruleSeq = 0
  let tokenSeq = 0
  const liveTokens = new Set<string>()
  const blobRequests: BlobHostRequest[] = []

  const makeRule = (rule: FaultRule) => {
    const name = rule.name ?? `rule${++ruleSeq}`
    const stats: RuleStats = { name, matched: 0, injected: 0, times: [], injectedTimes: [] }
    return { rule: { ...rule, name }, stats }
  }
  for (const r of opts.rules ?? []) rules.push(makeRule(r))

  /** Sends a request to the upstream registry and resolves its response (headers received). */
  const toUpstream = (
    method: string,
    path: string,
    headers: http.OutgoingHttpHeaders,
    body?: IncomingMessage | Buffer,
  ): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => {
      const up = http.request(
        { host: upstream.hostname, port: upstream.port, method, path, headers, agent },
        resolve,
      )
      up.on('error', reject)
      if (Buffer.isBuffer(body)) up.end(body)
      else if (body) {
        // a client that gives up mid-upload must not leave the registry waiting for the rest
        body.once('close', () => {
          if (!body.complete) up.destroy()
        })
        body.pipe(up)
      } else up.end()
    })

  const forwardHeaders = (req: IncomingMessage): http.OutgoingHttpHeaders => {
    const h: http.OutgoingHttpHeaders = { ...req.headers }
    // the registry builds upload Locations from Host, so keep the proxy's: clients come back through it
    if (opts.bearer) delete h.authorization
    return h
  }

  const challenge = (scope?: string) =>
    `Bearer realm="http://127.0.0.1:${port}/token",service="fault-proxy"${scope ? `,scope="${scope}"` : ''}`

  /** Streams an upstream body to the client, applying a body fault. */
  const pump = async (
    up: IncomingMessage,
    res: ServerResponse,
    fault: Fault | undefined,
    signal: AbortSignal,
  ): Promise<void> => {
    const total = Number(up.headers['content-length'] ?? Number.NaN)
    const cutAt =
      fault && (fault.kind === 'reset' || fault.kind === 'truncate')
        ? (fault.afterBytes ?? (Number.isFinite(total) ? Math.floor(total / 2) : 0))
        : undefined
    const flipAt =
      fault?.kind === 'corrupt'
        ? (fault.offset ?? (Number.isFinite(total) ? Math.floor(total / 2) : 0))
        : undefined
    const stallAt = fault?.kind === 'stall' && fault.afterBytes !== undefined ? fault.afterBytes : undefined
    let stalled = false
    let sent = 0
    const write = (buf: Buffer) =>
      new Promise<void>((resolve) => {
        if (res.destroyed) return resolve()
        res.write(buf, () => resolve())
      })
    for await (const raw of up) {
      let chunk = raw as Buffer
      if (signal.aborted) break
      if (flipAt !== undefined && flipAt >= sent && flipAt < sent + chunk.length) {
        chunk = Buffer.from(chunk)
        chunk[flipAt - sent] = (chunk[flipAt - sent] ?? 0) ^ 0xff
      }
      if (cutAt !== undefined && sent + chunk.length >= cutAt) {
        await write(chunk.subarray(0, cutAt - sent))
        sent = cutAt
        // let the client take in the headers and the partial body before the connection breaks
        await sleep(50, signal)
        up.destroy()
        const socket = res.socket
        if (socket && !socket.destroyed) {
          if (fault?.kind === 'reset') socket.resetAndDestroy()
          else socket.end()
        }
        return
      }
      if (stallAt !== undefined && !stalled && sent + chunk.length >= stallAt) {
        await write(chunk.subarray(0, stallAt - sent))
        chunk = chunk.subarray(stallAt - sent)
        sent = stallAt
        stalled = true
        await sleep((fault as { ms: number }).ms, signal)
        if (signal.aborted) break
      }
      if (fault?.kind === 'throttle') {
        for (let i = 0; i < chunk.length && !signal.aborted; i += CHUNK) {
          const piece = chunk.subarray(i, i + CHUNK)
          await write(piece)
          await sleep((piece.length / fault.bytesPerSecond) * 1000, signal)
        }
      } else {
        await write(chunk)
      }
      sent += chunk.length
    }
    if (signal.aborted) {
      up.destroy()
      res.destroy()
      return
    }
    res.end()
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET'
    const url = req.url ?? '/'
    const entry: ProxyLogEntry = {
      at: Date.now(),
      method,
      url,
      authorization: req.headers.authorization !== undefined,
    }
    log.push(entry)
    const clientGone = new AbortController()
    res.on('close', () => clientGone.abort())
    const signal = AbortSignal.any([closing.signal, clientGone.signal])
    const reply = (status: number, headers: Record<string, string>, body: string) => {
      entry.status = status
      res.writeHead(status, { 'content-type': 'application/json', ...headers })
      res.end(body)
    }

    // bearer emulation: the token service, and the check of every /v2/ request
    if (opts.bearer && url.startsWith('/token')) {
      const token = `tok-${++tokenSeq}`
      liveTokens.add(token)
      return reply(200, {}, JSON.stringify({ token, access_token: token, expires_in: 300 }))
    }
    if (opts.bearer && url.startsWith('/v2/')) {
      const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')
      if (!m || !liveTokens.has(m[1] ?? '')) {
        if (method !== 'GET' && method !== 'HEAD') await readBody(req).catch(() => undefined)
        return reply(401, { 'www-authenticate': challenge() }, registryError(401))
      }
    }

    // which rule, if any, injects a fault; every matching rule counts the request
    let chosen: { rule: FaultRule; stats: RuleStats } | undefined
    for (const r of rules) {
      if (!matches(r.rule, method, url)) continue
      r.stats.matched++
      r.stats.times.push(entry.at)
      if (!chosen && shouldInject(r.rule, r.stats.matched)) {
        chosen = r
        r.stats.injected++
        r.stats.injectedTimes.push(entry.at)
      }
    }
    const fault = chosen?.rule.fault
    if (chosen) entry.fault = chosen.stats.name

    if (fault?.kind === 'status') {
      if (method !== 'GET' && method !== 'HEAD') await readBody(req).catch(() => undefined)
      const headers: Record<string, string> = { ...fault.headers }
      if (fault.status === 401 && opts.bearer && !headers['www-authenticate'])
        headers['www-authenticate'] = challenge()
      return reply(fault.status, headers, fault.body ?? registryError(fault.status))
    }
    if (fault?.kind === 'redirect') {
      if (method !== 'GET' && method !== 'HEAD') await readBody(req).catch(() => undefined)
      const location = `${blobHost.url}/storage${url}${url.includes('?') ? '&' : '?'}X-Signature=fault-proxy`
      entry.status = fault.status ?? 307
      res.writeHead(entry.status, { location, 'content-length': '0' })
      res.end()
      return
    }
    if (fault?.kind === 'reset' && fault.during === 'request') {
      const limit = fault.afterBytes ?? 0
      let seen = 0
      if (limit > 0) {
        await new Promise<void>((resolve) => {
          const onData = (chunk: Buffer) => {
            seen += chunk.length
            if (seen < limit) return
            req.off('data', onData)
            req.pause()
            resolve()
          }
          req.on('data', onData)
          req.once('end', resolve)
          req.once('close', resolve)
        })
      }
      if (!req.socket.destroyed) req.socket.resetAndDestroy()
      return
    }

    let body: IncomingMessage | Buffer | undefined = method === 'GET' || method === 'HEAD' ? undefined : req
    if (fault?.kind === 'delay' || (fault?.kind === 'stall' && fault.afterBytes === undefined)) {
      if (body) body = await readBody(req)
      await sleep(fault.ms, signal)
      if (signal.aborted) {
        res.destroy()
        return
      }
    }
    if (fault?.kind === 'hold') {
      if (body) body = await readBody(req)
      await sleepUntilAborted(MAX_STALL_MS, signal, MAX_STALL_MS, fault.until)
      if (signal.aborted) {
        res.destroy()
        return
      }
    }
    let up: IncomingMessage
    try {
      up = await toUpstream(method, url, forwardHeaders(req), body)
    } catch {
      res.destroy()
      return
    }
    entry.status = up.statusCode ?? 502
    res.writeHead(entry.status, up.headers)
    const bodyFault =
      fault &&
      (fault.kind === 'reset' ||
        fault.kind === 'truncate' ||
        fault.kind === 'corrupt' ||
        fault.kind === 'throttle' ||
        (fault.kind === 'stall' && fault.afterBytes !== undefined))
        ? fault
        : undefined
    await sendBody(method, up, res, () => pump(up, res, bodyFault, signal))
  }

  const server = serverFor(handle)
  trackSockets(server, sockets)
  const { port } = await listenOnLoopback(server)

  // the redirect target: another origin that serves blobs from the upstream and records what it was sent
  const blobServer = http.createServer((req, res) => {
    blobRequests.push({
      at: Date.now(),
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: req.headers,
    })
    const m = /^\/storage(\/v2\/[^?]+)/.exec(req.url ?? '')
    if (!m?.[1]) {
      res.writeHead(404)
      res.end()
      return
    }
    const headers: http.OutgoingHttpHeaders = { 'user-agent': 'fault-proxy-blob-host' }
    if (opts.upstreamAuth) {
      const { username, password } = opts.upstreamAuth
      headers.authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`
    }
    toUpstream(req.method ?? 'GET', m[1], headers)
      .then((up) => {
        res.writeHead(up.statusCode ?? 502, {
          'content-type': up.headers['content-type'] ?? 'application/octet-stream',
          ...(up.headers['content-length'] && { 'content-length': up.headers['content-length'] }),
        })
        up.pipe(res)
      })
      .catch(() => res.destroy())
  })
  trackSockets(blobServer, sockets)
  const blobAddress = await listenOnLoopback(blobServer)
  const blobHost: BlobHost = {
    host: `127.0.0.1:${blobAddress.port}`,
    url: `http://127.0.0.1:${blobAddress.port}`,
    requests: blobRequests,
  }

  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    port,
    blobHost,
    log,
    get tokensIssued() {
      return tokenSeq
    },
    add(rule) {
      const r = makeRule(rule)
      rules.push(r)
      return r.stats
    },
    setRules(next) {
      rules = next.map(makeRule)
      return rules.map((r) => r.stats)
    },
    stats(name) {
      const r = rules.find((x) => x.stats.name === name)
      if (!r) throw new Error(`fault-proxy: no rule named ${name}`)
      return r.stats
    },
    expireTokens() {
      liveTokens.clear()
    },
    async close() {
      closing.abort()
      for (const s of sockets) s.destroy()
      server.closeAllConnections()
      blobServer.closeAllConnections()
      await Promise.all(
        [server, blobServer].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
      )
      agent.destroy()
    },
  }
}

/** `^/v2/<repo>/blobs/<digest>$`, for rules about one blob. */
export function blobPath(repo: string, digest?: string): RegExp {
  return new RegExp(`^/v2/${escapeRe(repo)}/blobs/${digest ? escapeRe(digest) : 'sha256:[0-9a-f]{64}'}$`)
}

/** `^/v2/<repo>/manifests/<reference>$`, for rules about one manifest. */
export function manifestPath(repo: string, reference?: string): RegExp {
  return new RegExp(`^/v2/${escapeRe(repo)}/manifests/${reference ? escapeRe(reference) : '[^/?]+'}$`)
}

/** Upload requests (POST/PATCH/PUT under blobs/uploads/) of a repository. */
export function uploadPath(repo: string): RegExp {
  return new RegExp(`^/v2/${escapeRe(repo)}/blobs/uploads/`)
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** Waits until the rule `name` has injected its fault at least once (a copy is under way). */
export async function untilInjected(proxy: FaultProxy, name: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (proxy.stats(name).injected < 1) {
    if (Date.now() > deadline)
      throw new Error(`fault-proxy: rule ${name} injected nothing in ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}
