// Keep-alive connection pools, one per TLS setting and pool size, shared by the hosts that use them.
import { readFileSync } from 'node:fs'
import { ImgsyncError } from '../errors.js'
import { Agent } from './undici.js'

export interface TlsOptions {
  /** PEM file of the CA that signed the registry's certificate */
  ca?: string
  /** skip certificate verification (explicit opt-in; warns) */
  insecure?: boolean
  /** plain HTTP (default only for loopback hosts) */
  plainHttp?: boolean
  /** client certificate and key (PEM files) for mutual TLS */
  cert?: string
  key?: string
}

export interface PoolOptions {
  /** host[:port], for error messages */
  host: string
  tls?: TlsOptions
  /** connections kept per origin */
  connections?: number
  /** ms to wait for response headers */
  headersTimeout?: number
  /** ms a response body may stay idle (not a total limit, so large blobs are fine) */
  bodyTimeout?: number
}

const agents = new Map<string, Agent>()

/** A PEM file named by the TLS settings; unreadable means a clear TLS error, not a stack trace. */
function readPem(file: string, what: string, host: string): Buffer {
  try {
    return readFileSync(file)
  } catch (err) {
    throw new ImgsyncError(
      'TLS',
      `${host}: cannot read the ${what} file ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      { suggestions: [`check tls.${what === 'CA' ? 'ca' : what} in the rule file, or --src-ca / --dst-ca`] },
    )
  }
}

/** One keep-alive pool per TLS setting, shared by every host that uses it. */
export function agentFor(opts: PoolOptions): Agent {
  const tls = opts.tls ?? {}
  const key = JSON.stringify([
    tls.ca,
    tls.insecure,
    tls.cert,
    tls.key,
    opts.connections,
    opts.headersTimeout,
    opts.bodyTimeout,
  ])
  let agent = agents.get(key)
  if (!agent) {
    agent = new Agent({
      connections: opts.connections ?? 32,
      keepAliveTimeout: 30_000,
      headersTimeout: opts.headersTimeout ?? 30_000,
      bodyTimeout: opts.bodyTimeout ?? 60_000,
      connect: {
        timeout: 10_000,
        rejectUnauthorized: !tls.insecure,
        ca: tls.ca ? readPem(tls.ca, 'CA', opts.host) : undefined,
        cert: tls.cert ? readPem(tls.cert, 'cert', opts.host) : undefined,
        key: tls.key ? readPem(tls.key, 'key', opts.host) : undefined,
      },
    })
    agents.set(key, agent)
  }
  return agent
}

/** Drops every pooled connection (and any request an interrupt left running) so the process exits now. */
export async function closeAllAgents(): Promise<void> {
  const all = [...agents.values()]
  agents.clear()
  await Promise.all(all.map((a) => a.destroy().catch(() => undefined)))
}
