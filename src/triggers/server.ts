import { timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { printable } from '../text.js'
import { type ParsedEvents, parseDistributionEvents, parseHarborEvent } from './events.js'
import type { ServeMetrics } from './metrics.js'
import type { SyncService } from './service.js'

const MAX_BODY = 1024 * 1024

function send(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const text = type === 'application/json' ? JSON.stringify(body) : String(body)
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > MAX_BODY) {
        reject(new Error('body too large'))
        req.destroy()
        return
      }
      chunks.push(c)
    })
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

/** Compares the bearer token in constant time. */
function authorized(req: IncomingMessage, token: string): boolean {
  const given = Buffer.from(req.headers.authorization ?? '')
  const want = Buffer.from(`Bearer ${token}`)
  return given.length === want.length && timingSafeEqual(given, want)
}

const parsers: Record<string, { source: 'distribution' | 'harbor'; parse: (b: unknown) => ParsedEvents }> = {
  '/webhooks/distribution': { source: 'distribution', parse: parseDistributionEvents },
  '/webhooks/harbor': { source: 'harbor', parse: parseHarborEvent },
}

/** /healthz, /metrics and the two webhook endpoints; webhooks answer fast and sync in the background. */
export function createServeServer(service: SyncService, metrics: ServeMetrics): Server {
  return createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!
    try {
      if (req.method === 'GET' && path === '/healthz') {
        const health = service.health()
        // degraded is still alive and ready: a registry's outage must not restart serve or cut its webhooks
        return send(res, health.status === 'stopping' ? 503 : 200, health)
      }
      if (req.method === 'GET' && path === '/metrics') {
        metrics.setRegistryStats(service.registryStats())
        return send(res, 200, await metrics.registry.metrics(), metrics.registry.contentType)
      }
      const hook = parsers[path]
      if (!hook) return send(res, 404, { error: 'not found' })
      if (req.method !== 'POST') return send(res, 405, { error: 'use POST' })
      const token = service.webhookToken()
      if (!token) {
        metrics.events.inc({ source: hook.source, result: 'rejected' })
        return send(res, 503, { error: 'webhooks are off: set IMGSYNC_WEBHOOK_TOKEN or serve.webhookToken' })
      }
      if (!authorized(req, token)) {
        metrics.events.inc({ source: hook.source, result: 'rejected' })
        return send(res, 401, { error: 'missing or wrong bearer token' })
      }
      if (!service.acceptsEvents) {
        // the registry keeps the events and sends them again later
        metrics.events.inc({ source: hook.source, result: 'rejected' })
        res.setHeader('retry-after', '30')
        return send(res, 503, { error: 'the sync queue is full; send again later' })
      }
      let parsed: ParsedEvents
      try {
        parsed = hook.parse(JSON.parse(await readBody(req)))
      } catch (err) {
        metrics.events.inc({ source: hook.source, result: 'rejected' })
        return send(res, 400, { error: `bad payload: ${printable((err as Error).message)}` })
      }
      return send(res, 202, service.receive(hook.source, parsed))
    } catch (err) {
      return send(res, 500, { error: printable((err as Error).message) })
    }
  })
}
