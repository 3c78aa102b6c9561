// A loopback HTTP reverse proxy in front of a registry that records every request's headers, can
// delay answers (to let tokens expire mid-run) and can answer some requests itself (redirects,
// fake refusals). The Host header is passed through, so the registry's Location URLs point back
// at the proxy.
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'

export interface SeenRequest {
  method: string
  /** path and query */
  url: string
  headers: http.IncomingHttpHeaders
}

export interface SpyProxyOptions {
  /** answer the request here instead of forwarding it; return true when handled */
  intercept?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean
  /** ms to hold the upstream's answer before passing it on (the upstream already acted on it) */
  delayResponse?: (req: http.IncomingMessage) => number
  /** terminate TLS here (PEM contents); with `ca` and requestCert, clients must present a certificate */
  tls?: { key: Buffer; cert: Buffer; ca?: Buffer; requestCert?: boolean }
}

export interface SpyServer {
  url: string
  host: string
  requests: SeenRequest[]
  stop(): Promise<void>
}

async function listen(server: http.Server, scheme = 'http'): Promise<{ url: string; host: string }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return { url: `${scheme}://127.0.0.1:${port}`, host: `127.0.0.1:${port}` }
}

function stopper(server: http.Server): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
}

export async function startSpyProxy(upstream: string, opts: SpyProxyOptions = {}): Promise<SpyServer> {
  const requests: SeenRequest[] = []
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers } })
    if (opts.intercept?.(req, res)) return
    // the registry builds Location URLs from Host and X-Forwarded-Proto
    const headers = opts.tls ? { ...req.headers, 'x-forwarded-proto': 'https' } : req.headers
    const out = http.request(new URL(req.url ?? '/', upstream), { method: req.method, headers }, (up) => {
      const pass = () => {
        res.writeHead(up.statusCode ?? 502, up.headers)
        up.pipe(res)
      }
      const delay = opts.delayResponse?.(req) ?? 0
      if (delay > 0) setTimeout(pass, delay)
      else pass()
    })
    out.on('error', () => res.destroy())
    req.pipe(out)
  }
  const server = opts.tls
    ? https.createServer(
        {
          key: opts.tls.key,
          cert: opts.tls.cert,
          ca: opts.tls.ca,
          requestCert: opts.tls.requestCert ?? false,
          rejectUnauthorized: opts.tls.requestCert ?? false,
        },
        handler,
      )
    : http.createServer(handler)
  const { url, host } = await listen(server, opts.tls ? 'https' : 'http')
  return { url, host, requests, stop: stopper(server) }
}

/** A plain loopback HTTP server that records requests and answers them with `handler`. */
export async function startRecordingServer(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<SpyServer> {
  const requests: SeenRequest[] = []
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers } })
    handler(req, res)
  })
  const { url, host } = await listen(server)
  return { url, host, requests, stop: stopper(server) }
}
