// A loopback HTTP proxy that plays the network link in front of one registry: it holds every request
// for a fixed delay before passing it on (a cross-region round trip), can cap the bandwidth each way,
// counts requests by method and by kind (manifest GET, blob HEAD, upload PATCH, tag list, ...), and,
// for the fault scenario, answers some requests with a 503, a 429 with Retry-After: 1, or a
// connection reset in the middle of the response, chosen by a seeded PRNG.
// Only requests that reach it as HTTP/1.1 are delayed; connection set-up costs nothing extra.
import { createHash } from 'node:crypto'
import http from 'node:http'
import { pipeline } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { requestKind } from './kinds.js'

const SLICE = 16 * 1024
const FAULTS = ['503', '429', 'reset']
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'expect', 'upgrade'])

export function emptyLinkStats() {
  return {
    connections: 0,
    /** bytes the clients sent, on the wire */
    wireBytes: 0,
    requests: 0,
    byMethod: {},
    byKind: {},
    /** request bodies under /blobs/uploads/: the blob bytes the registry received */
    blobBytes: 0,
    /** final PUTs of blob uploads */
    blobUploads: 0,
    /** POST ...?mount= */
    mountRequests: 0,
    /** bodies of manifest PUTs */
    manifestBytes: 0,
    otherBodyBytes: 0,
    /** response bodies sent back to the clients */
    responseBytes: 0,
    /** connections that did not speak HTTP/1.1 (e.g. a TLS probe before falling back to http) */
    nonHttp: 0,
    /** injected failures by type */
    faults: { 503: 0, 429: 0, reset: 0 },
  }
}

/** A PRNG in [0, 1) from a string seed (mulberry32). */
export function seededRandom(seed) {
  let a = createHash('sha256').update(String(seed)).digest().readUInt32LE(0)
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** One direction of a link: bytes leave no faster than `rate` per second, in arrival order. */
class Bucket {
  constructor(rate) {
    this.rate = rate
    this.free = 0
  }

  async take(n) {
    const now = performance.now()
    this.free = Math.max(this.free, now) + (n * 1000) / this.rate
    if (this.free - now >= 1) await sleep(this.free - now)
  }
}

/** Passes chunks through `bucket` (when there is one), in slices, and reports each slice's size. */
function throttle(bucket, onBytes) {
  return async function* (source) {
    for await (const chunk of source) {
      for (let i = 0; i < chunk.length; i += SLICE) {
        const part = chunk.subarray(i, i + SLICE)
        if (bucket) await bucket.take(part.length)
        onBytes(part.length)
        yield part
      }
    }
  }
}

function forwardHeaders(headers) {
  const out = {}
  for (const [name, value] of Object.entries(headers)) if (!HOP_BY_HOP.has(name)) out[name] = value
  return out
}

function responseHeaders(raw) {
  const out = []
  for (let i = 0; i < raw.length; i += 2) {
    if (!HOP_BY_HOP.has(raw[i].toLowerCase())) out.push(raw[i], raw[i + 1])
  }
  return out
}

function reset(socket) {
  if (!socket || socket.destroyed) return
  if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy()
  else socket.destroy()
}

/** The answer of a registry that is overloaded (503) or rate-limiting (429: come back in 1 s). */
function refuse(req, res, fault) {
  req.resume()
  const status = fault === '429' ? 429 : 503
  const code = fault === '429' ? 'TOOMANYREQUESTS' : 'UNAVAILABLE'
  const body = JSON.stringify({ errors: [{ code, message: `injected ${status} (bench fault proxy)` }] })
  const headers = { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }
  if (status === 429) headers['Retry-After'] = '1'
  res.writeHead(status, headers)
  res.end(body)
}

class Link {
  constructor(upstreamPort, { delayMs = 0, bandwidth = 0, fault } = {}) {
    this.upstreamPort = upstreamPort
    this.delayMs = delayMs
    this.fault = fault
    this.up = bandwidth > 0 ? new Bucket(bandwidth) : undefined
    this.down = bandwidth > 0 ? new Bucket(bandwidth) : undefined
    this.agent = new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY })
    /** open client sockets → their bytesRead when the counters were last zeroed */
    this.sockets = new Map()
    this.closedWire = 0
    this.stats = emptyLinkStats()
    this.reseed(fault?.seed ?? '')
  }

  /** Restarts the fault sequence: the same seed gives every tool the same sequence of faults. */
  reseed(seed) {
    this.random = seededRandom(seed)
  }

  pickFault() {
    if (!this.fault || this.fault.rate <= 0) return undefined
    const hit = this.random() < this.fault.rate
    const which = FAULTS[Math.floor(this.random() * FAULTS.length)]
    return hit ? which : undefined
  }

  count(req, kind) {
    const s = this.stats
    s.requests++
    s.byMethod[req.method] = (s.byMethod[req.method] ?? 0) + 1
    s.byKind[kind] = (s.byKind[kind] ?? 0) + 1
    if (kind === 'upload PUT') s.blobUploads++
    if (kind === 'upload POST' && /[?&]mount=/.test(req.url)) s.mountRequests++
    const field = kind.startsWith('upload ')
      ? 'blobBytes'
      : kind === 'manifest PUT'
        ? 'manifestBytes'
        : 'otherBodyBytes'
    return (n) => {
      s[field] += n
    }
  }

  async handle(req, res) {
    const path = req.url.split('?')[0]
    const kind = requestKind(req.method, path)
    const onBody = this.count(req, kind)
    const fault = this.pickFault()
    if (fault) this.stats.faults[fault]++
    if (this.delayMs > 0) await sleep(this.delayMs)
    if (fault === '503' || fault === '429') return refuse(req, res, fault)
    const upstream = http.request({
      host: '127.0.0.1',
      port: this.upstreamPort,
      method: req.method,
      path: req.url,
      headers: forwardHeaders(req.headers),
      agent: this.agent,
    })
    const answered = new Promise((resolve, reject) => {
      upstream.once('response', resolve)
      upstream.once('error', reject)
    })
    // caught at once: a client that goes away mid-upload must not become an unhandled rejection
    const sent = pipeline(req, throttle(this.up, onBody), upstream).catch(() => undefined)
    const upRes = await answered
    await this.respond(upRes, res, fault)
    await sent
  }

  /** Relays the registry's answer; a 'reset' fault cuts the connection halfway through the body. */
  async respond(upRes, res, fault) {
    const length = Number(upRes.headers['content-length'] ?? Number.NaN)
    if (fault === 'reset') return this.cut(upRes, res, length)
    res.writeHead(upRes.statusCode, responseHeaders(upRes.rawHeaders))
    const count = (n) => {
      this.stats.responseBytes += n
    }
    await pipeline(upRes, throttle(this.down, count), res).catch(() => {
      upRes.destroy()
      reset(res.socket)
    })
  }

  /** Sends the head and the first half of the body (nothing, when there is no body), then a reset. */
  async cut(upRes, res, length) {
    if (res.req.method === 'HEAD' || length === 0) {
      upRes.resume()
      return reset(res.socket)
    }
    res.writeHead(upRes.statusCode, responseHeaders(upRes.rawHeaders))
    const half = Number.isFinite(length) ? Math.max(1, Math.floor(length / 2)) : 1
    let sent = 0
    for await (const chunk of upRes) {
      const piece = chunk.subarray(0, half - sent)
      sent += piece.length
      this.stats.responseBytes += piece.length
      if (piece.length > 0) await new Promise((resolve) => res.write(piece, resolve))
      if (sent >= half) break
    }
    upRes.destroy()
    reset(res.socket)
  }

  wireBytes() {
    let n = this.closedWire
    for (const [socket, base] of this.sockets) n += socket.bytesRead - base
    return n
  }

  listen() {
    const server = http.createServer({ requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 60_000 })
    server.on('connection', (socket) => {
      this.stats.connections++
      this.sockets.set(socket, 0)
      socket.once('close', () => {
        this.closedWire += socket.bytesRead - (this.sockets.get(socket) ?? 0)
        this.sockets.delete(socket)
      })
    })
    server.on('request', (req, res) => {
      this.handle(req, res).catch(() => {
        if (res.headersSent || res.destroyed) return reset(res.socket)
        res.writeHead(502, { 'Content-Type': 'text/plain' })
        res.end('bench link proxy: upstream failed\n')
      })
    })
    server.on('clientError', (_err, socket) => {
      this.stats.nonHttp++
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n')
      else socket.destroy()
    })
    this.server = server
    return new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve(server.address().port))
    })
  }
}

/**
 * Listens on a free 127.0.0.1 port in front of 127.0.0.1:upstreamPort.
 * @param {number} upstreamPort
 * @param {{ delayMs?: number, bandwidth?: number, fault?: { rate: number, seed: string } }} [options]
 */
export async function startLinkProxy(upstreamPort, options = {}) {
  const link = new Link(upstreamPort, options)
  const port = await link.listen()
  return {
    host: `127.0.0.1:${port}`,
    port,
    /** The live counters (the same fields as the counting proxy's, plus byKind, faults, ...). */
    get stats() {
      link.stats.wireBytes = link.wireBytes()
      return link.stats
    },
    /** A copy of the counters now. */
    snapshot() {
      return structuredClone(this.stats)
    },
    /** Zeroes the counters (the bodies of requests in flight keep counting into the old ones). */
    reset() {
      link.stats = emptyLinkStats()
      link.closedWire = 0
      for (const socket of link.sockets.keys()) link.sockets.set(socket, socket.bytesRead)
    },
    reseed(seed) {
      link.reseed(seed)
    },
    close() {
      link.server.closeAllConnections()
      link.agent.destroy()
      return new Promise((r) => link.server.close(() => r()))
    },
  }
}
