// Small pieces the test servers share: listening on a loopback port, and waits that end early when
// the server closes.
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

/** An HTTP server for an async handler: one that fails answers 502, or cuts an answer it began. */
export function serverFor(handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>): http.Server {
  return http.createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(502)
        res.end()
      } else res.destroy()
    })
  })
}

/** Keeps in `sockets` the connections open to `server`, so that closing can cut them. */
export function trackSockets(server: http.Server, sockets: Set<Socket>): void {
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
}

/** Starts `server` on a free loopback port; resolves with its address. */
export function listenOnLoopback(server: http.Server): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve(server.address() as AddressInfo))
  })
}

/** Waits `ms` (at most `maxMs`), or less if `signal` aborts first; never rejects. */
export function sleepUntilAborted(ms: number, signal: AbortSignal, maxMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted || ms <= 0) return resolve()
    const done = () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, Math.min(ms, maxMs))
    signal.addEventListener('abort', done, { once: true })
  })
}

/**
 * The body of an answer whose status line and headers are written: none for HEAD (the upstream's is
 * drained), else the headers go out at once and `body` streams the rest.
 */
export async function sendBody(
  method: string,
  upstream: IncomingMessage,
  res: ServerResponse,
  body: () => Promise<void>,
): Promise<void> {
  if (method === 'HEAD') {
    upstream.resume()
    res.end()
    return
  }
  res.flushHeaders()
  await body()
}

/**
 * A port to try for a loopback listener: below Linux's ephemeral range (32768 and up), from which
 * the kernel hands out listen(0) ports and the local ends of outgoing connections. A port picked
 * there can be taken between a check and a later bind by the suite's own connections; one picked
 * here only by another random pick.
 */
export function portBelowEphemeral(): number {
  return 20_000 + Math.floor(Math.random() * 12_000)
}
