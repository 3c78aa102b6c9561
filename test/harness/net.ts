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

/**
 * Waits `ms` (at most `maxMs`), or less if `signal` aborts or `until` settles first; never rejects.
 */
export function sleepUntilAborted(
  ms: number,
  signal: AbortSignal,
  maxMs: number,
  until?: Promise<unknown>,
): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted || ms <= 0) return resolve()
    const done = () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, Math.min(ms, maxMs))
    signal.addEventListener('abort', done, { once: true })
    until?.then(done, done)
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
 * Listens (through `listen`) on a free loopback port below Linux's ephemeral range (32768 and up),
 * from which the kernel hands out listen(0) ports and the local ends of outgoing connections: a port
 * from that range may be taken by the suite's own connections between a check and a later bind, or
 * while a listener is down; one picked here only by another random pick, and is then tried again.
 */
export async function listenBelowEphemeral(listen: (port: number) => Promise<void>): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000)
    try {
      await listen(port)
      return port
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 50) throw err
    }
  }
}
