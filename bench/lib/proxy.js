// A counting TCP proxy in front of a target registry. distribution's access log gives response sizes
// only, so what a tool *sends* (blob uploads, manifests) is counted here, on the wire: every byte
// from client to registry, and, by following HTTP/1.1 request framing (Content-Length or chunked),
// the request bodies by kind. Bytes are piped untouched; parsing only observes them.
import net from 'node:net'

const UPLOAD_PATH = /^\/v2\/.+\/blobs\/uploads\//
const MANIFEST_PATH = /^\/v2\/.+\/manifests\/[^/]+$/

export function emptyProxyStats() {
  return {
    connections: 0,
    /** every byte the clients sent: request lines, headers, chunk framing, bodies */
    wireBytes: 0,
    requests: 0,
    byMethod: {},
    /** bodies of PATCH/PUT/POST under /blobs/uploads/: the blob bytes the registry received */
    blobBytes: 0,
    /** final PUTs of blob uploads */
    blobUploads: 0,
    /** POST ...?mount= (a mount moves no blob bytes) */
    mountRequests: 0,
    /** bodies of manifest PUTs */
    manifestBytes: 0,
    otherBodyBytes: 0,
    /** connections whose bytes did not parse as HTTP/1.1 (counted on the wire only) */
    unparsed: 0,
  }
}

const CRLF = Buffer.from('\r\n')
const HEAD_END = Buffer.from('\r\n\r\n')
const MAX_HEAD = 256 * 1024

/** Follows the request side of one HTTP/1.1 connection and adds to `stats`. */
class RequestCounter {
  constructor(stats) {
    this.stats = stats
    this.state = 'head'
    this.carry = Buffer.alloc(0)
    this.remaining = 0
    this.kind = 'other'
    this.failed = false
  }

  push(chunk) {
    if (this.failed) return
    let buf = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk
    this.carry = Buffer.alloc(0)
    let i = 0
    while (i < buf.length) {
      if (this.state === 'body' || this.state === 'chunk-data') {
        const n = Math.min(this.remaining, buf.length - i)
        this.count(n)
        this.remaining -= n
        i += n
        if (this.remaining === 0) this.state = this.state === 'body' ? 'head' : 'chunk-end'
        continue
      }
      if (this.state === 'chunk-end') {
        // the CRLF after a chunk's data
        if (buf.length - i < 2) break
        i += 2
        this.state = 'chunk-size'
        continue
      }
      const end = buf.indexOf(this.state === 'head' ? HEAD_END : CRLF, i)
      if (end === -1) {
        if (buf.length - i > MAX_HEAD) return this.fail()
        break
      }
      const text = buf.toString('latin1', i, end)
      i = end + (this.state === 'head' ? 4 : 2)
      if (this.state === 'head') this.onHead(text)
      else if (this.state === 'chunk-size') {
        const size = Number.parseInt(text.split(';')[0].trim(), 16)
        if (!Number.isFinite(size)) return this.fail()
        if (size === 0) this.state = 'trailer'
        else {
          this.remaining = size
          this.state = 'chunk-data'
        }
      } else if (this.state === 'trailer') {
        // trailer lines until an empty one
        if (text === '') this.state = 'head'
      }
      if (this.failed) return
    }
    if (i < buf.length) this.carry = Buffer.from(buf.subarray(i))
    buf = undefined
  }

  onHead(text) {
    if (text === '') return // stray CRLF between requests
    const lines = text.split('\r\n')
    const m = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(lines[0])
    if (!m) return this.fail()
    const [, method, target] = m
    let path = target
    try {
      path = new URL(target, 'http://x').pathname
    } catch {
      // keep the raw target
    }
    const s = this.stats
    s.requests++
    s.byMethod[method] = (s.byMethod[method] ?? 0) + 1
    let length = 0
    let chunked = false
    for (const line of lines.slice(1)) {
      const c = line.indexOf(':')
      if (c === -1) continue
      const name = line.slice(0, c).trim().toLowerCase()
      const value = line.slice(c + 1).trim()
      if (name === 'content-length') length = Number(value)
      else if (name === 'transfer-encoding' && /chunked/i.test(value)) chunked = true
    }
    const upload = UPLOAD_PATH.test(path)
    if (upload && method === 'POST' && /[?&]mount=/.test(target)) s.mountRequests++
    this.kind = upload ? 'blob' : MANIFEST_PATH.test(path) && method === 'PUT' ? 'manifest' : 'other'
    if (upload && method === 'PUT') s.blobUploads++
    if (chunked) this.state = 'chunk-size'
    else if (length > 0) {
      this.remaining = length
      this.state = 'body'
    } else this.state = 'head'
  }

  count(n) {
    if (this.kind === 'blob') this.stats.blobBytes += n
    else if (this.kind === 'manifest') this.stats.manifestBytes += n
    else this.stats.otherBodyBytes += n
  }

  fail() {
    this.failed = true
    this.stats.unparsed++
  }
}

/**
 * Listens on a free 127.0.0.1 port and forwards every connection to 127.0.0.1:upstreamPort.
 * @returns {Promise<{host: string, port: number, stats: ReturnType<typeof emptyProxyStats>, reset(): void, close(): Promise<void>}>}
 */
export function startCountingProxy(upstreamPort) {
  const sockets = new Set()
  const proxy = { stats: emptyProxyStats() }
  const server = net.createServer((client) => {
    const { stats } = proxy
    stats.connections++
    const upstream = net.connect({ host: '127.0.0.1', port: upstreamPort })
    client.setNoDelay(true)
    upstream.setNoDelay(true)
    sockets.add(client)
    sockets.add(upstream)
    const counter = new RequestCounter(stats)
    client.on('data', (chunk) => {
      stats.wireBytes += chunk.length
      counter.push(chunk)
    })
    client.pipe(upstream)
    upstream.pipe(client)
    const done = () => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on('error', done)
    upstream.on('error', done)
    client.on('close', done)
    upstream.on('close', done)
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      resolve(
        Object.assign(proxy, {
          host: `127.0.0.1:${port}`,
          port,
          /** Zeroes the counters in place (connections still open keep counting into them). */
          reset() {
            Object.assign(proxy.stats, emptyProxyStats())
          },
          close() {
            for (const s of sockets) s.destroy()
            return new Promise((r) => server.close(() => r()))
          },
        }),
      )
    })
  })
}
