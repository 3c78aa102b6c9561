import type { RegistryApi } from '../registry/api.js'
import { type CredentialSource, type Credentials, staticCredentials } from '../registry/auth.js'
import { HttpRegistry } from '../registry/http-registry.js'
import { apiHost } from '../registry/reference.js'
import type { TlsOptions } from '../registry/transport.js'

/** How to reach one registry: from a rule-file entry or from ad-hoc flags and environment. */
export interface EndpointConfig {
  /** registry name as written in references (docker.io, host:port) */
  host: string
  credentials?: Credentials | CredentialSource
  tls?: TlsOptions
  /** connections per origin */
  connections?: number
  headersTimeout?: number
  bodyTimeout?: number
  retries?: number
}

/** One RegistryApi per distinct endpoint, so token caches and pools are shared within a run. */
export class RegistryPool {
  private readonly byKey = new Map<string, RegistryApi>()

  get(cfg: EndpointConfig): RegistryApi {
    const key = JSON.stringify([
      cfg.host,
      cfg.tls,
      typeof cfg.credentials === 'function' ? 'fn' : cfg.credentials,
    ])
    let api = this.byKey.get(key)
    if (!api) {
      const creds = cfg.credentials
      api = new HttpRegistry({
        name: cfg.host,
        host: apiHost(cfg.host),
        credentials: typeof creds === 'function' ? creds : staticCredentials(creds),
        tls: cfg.tls,
        connections: cfg.connections,
        headersTimeout: cfg.headersTimeout,
        bodyTimeout: cfg.bodyTimeout,
        retries: cfg.retries,
      })
      this.byKey.set(key, api)
    }
    return api
  }
}
