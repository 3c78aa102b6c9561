// A loopback proxy in front of a registry that holds every request `latency` ms (a far link, so
// concurrency shows), counts requests by kind, and records how many were in flight at once in
// each of imgsync's lanes: `blobs`, a blob transfer's request (blob GET, upload PATCH/PUT) from
// its arrival until its answer has been sent whole; `requests`, every request but an upload's
// PATCH/PUT from its arrival until its answer's headers go out (a blob GET is in both).
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { classify, type RequestKind } from './registry-proxy.js'

const TRANSFER_KINDS: ReadonlySet<RequestKind> = new Set(['blob-get', 'upload-patch', 'upload-put'])

export type FlightLane = 'requests' | 'blobs'

export interface FlightRequest {
  method: string
  url: string
  kind: RequestKind
  repo?: string
  /** when it arrived (performance.now(), comparable across the proxies of one test process) */
  at: number
}

export interface FlightProxy {
  host: string
  url: string
  /** every request so far, in arrival order */
  readonly requests: readonly FlightRequest[]
  /** how many requests of `kind` arrived (optionally in one repository) */
  count(kind: RequestKind, repo?: string): number
  /** the most in flight at once, per lane, since the last reset */
  readonly maxInFlight: Record<FlightLane, number>
  /** forgets what was counted so far */
  reset(): void
  close(): Promise<void>
}

export async function startFlightProxy(
  upstream: string,
  opts: { latency?: number } = {},
): Promise<FlightProxy> {
  const target = new URL(upstream)
  if (target.hostname !== '127.0.0.1')
    throw new Error(`flight-proxy: upstream must be 127.0.0.1, not ${target.host}`)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 })
  const sockets = new Set<Socket>()
  let requests: FlightRequest[] = []
  const now: Record<FlightLane, number> = { requests: 0, blobs: 0 }
  const max: Record<FlightLane, number> = { requests: 0, blobs: 0 }

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? 'GET'
    const url = req.url ?? '/'
    const { kind, repo } = classify(method, url)
    requests.push({ method, url, kind, ...(repo !== undefined && { repo }), at: performance.now() })
    const lanes: FlightLane[] = []
    if (TRANSFER_KINDS.has(kind)) lanes.push('blobs')
    if (kind !== 'upload-put' && kind !== 'upload-patch') lanes.push('requests')
    for (const lane of lanes) {
      now[lane]++
      max[lane] = Math.max(max[lane], now[lane])
    }
    const landed = new Set<FlightLane>()
    const land = (lane: FlightLane) => {
      if (!lanes.includes(lane) || landed.has(lane)) return
      landed.add(lane)
      now[lane]--
    }
    res.once('close', () => {
      land('requests')
      land('blobs')
    })
    const forward = () => {
      const up = http.request(
        { host: target.hostname, port: target.port, method, path: url, headers: req.headers, agent },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers)
          // a request's slot ends with its answer's headers; a transfer's with its last byte
          land('requests')
          answer.pipe(res)
        },
      )
      up.on('error', () => res.destroy())
      req.pipe(up)
    }
    if (opts.latency) setTimeout(forward, opts.latency)
    else forward()
  }

  const server = http.createServer(handle)
  server.on('connection', (s) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return requests
    },
    count: (kind, repo) =>
      requests.filter((r) => r.kind === kind && (repo === undefined || r.repo === repo)).length,
    maxInFlight: max,
    reset() {
      requests = []
      max.requests = now.requests
      max.blobs = now.blobs
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        agent.destroy()
        server.close(() => resolve())
      }),
  }
}
