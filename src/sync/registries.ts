import type { RegistryApi, RequestCounts } from '../registry/api.js'
import { type CredentialSource, type Credentials, staticCredentials } from '../registry/auth.js'
import { chainCredentials, dockerConfigCredentials } from '../registry/credentials.js'
import { HostThrottle, type LaneLimits, MAX_LANE } from '../registry/host-throttle.js'
import { HttpRegistry } from '../registry/http-registry.js'
import { OCI_PREFIX } from '../registry/location.js'
import { type OciLayoutMode, OciLayoutRegistry } from '../registry/oci-layout.js'
import { apiHost } from '../registry/reference.js'
import type { TlsOptions } from '../registry/transport.js'
import type { NetworkSettings } from './run-context.js'
import { type AuthHelp, type BackendWatch, watched } from './watched-registry.js'

/** Where images are read or written: a registry, or OCI image layouts on disk. */
export type EndpointConfig = RegistryEndpoint | LayoutEndpoint

/** An OCI image layout directory: one repository's layout (ad-hoc oci:PATH), or one per repository. */
export interface LayoutEndpoint {
  kind: 'layout'
  path: string
  mode: OciLayoutMode
}

/** How to reach one registry: from a rule-file entry or from ad-hoc flags and environment. */
export interface RegistryEndpoint {
  kind: 'registry'
  /** registry name as written in references (docker.io, host:port) */
  host: string
  /** explicit credentials (rule file, environment, credentials file); they win over the docker config */
  credentials?: Credentials | CredentialSource
  /**
   * docker config file consulted when there are no explicit credentials (auths, credHelpers,
   * credsStore). Default `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`; false: none.
   */
  dockerConfig?: string | false
  /** the dockerConfig file was named by the user (--authfile), so it must exist */
  dockerConfigRequired?: boolean
  tls?: TlsOptions
  /** in flight at most, per lane (the registry entry's concurrency); else from --concurrency */
  concurrency?: Partial<LaneLimits>
  /** limits the user set: requests started per second, blob bytes per second */
  limits?: { requestsPerSecond?: number; bandwidth?: number }
  /** blobs above this go up in chunks of it */
  chunkSize?: number
  /** which side of a sync this is, and where its credentials come from (for AUTH_FAILED) */
  authHelp?: AuthHelp
  headersTimeout?: number
  bodyTimeout?: number
  retries?: number
}

/** Requests and blob transfers in flight per registry when neither its entry nor --concurrency says. */
const DEFAULT_CONCURRENCY = 8

/** Requests waiting for an answer, per blob transfer in flight, when the entry does not say. */
const REQUESTS_PER_TRANSFER = 4

/**
 * A registry's lanes: what its entry sets, else blob transfers = --concurrency and requests = four
 * times that. A request waiting for an answer costs the registry little and the link a round trip,
 * so on a far registry the checks, manifests and upload starts want many more in flight than the
 * transfers that fill the bandwidth (a WAN no-op of 152 tags: 1.07 s with 8, 0.71 s with 32). Blob
 * transfers never hold a request slot, so uploads in flight cannot starve the HEADs behind them.
 */
export function laneLimits(cfg: Partial<LaneLimits> | undefined, concurrency?: number): LaneLimits {
  const n = concurrency ?? DEFAULT_CONCURRENCY
  return {
    requests: cfg?.requests ?? Math.min(MAX_LANE, n * REQUESTS_PER_TRANSFER),
    blobs: cfg?.blobs ?? n,
  }
}

const sourceIds = new WeakMap<CredentialSource, number>()
let nextSourceId = 0

/** A pool key part for credentials: two different sources must never share a registry (tenants). */
function credentialsKey(creds: RegistryEndpoint['credentials']): unknown {
  if (typeof creds !== 'function') return creds
  let id = sourceIds.get(creds)
  if (id === undefined) {
    id = nextSourceId++
    sourceIds.set(creds, id)
  }
  return `source#${id}`
}

/** How records and messages name an endpoint: host[:port], or oci:PATH. */
export function endpointName(cfg: EndpointConfig): string {
  return cfg.kind === 'layout' ? `${OCI_PREFIX}${cfg.path}` : cfg.host
}

/** Turns an endpoint into the backend that serves it (planners need only this of a pool). */
export interface Registries {
  get(cfg: EndpointConfig): RegistryApi
}

/**
 * One RegistryApi per distinct endpoint, so token caches and pools are shared within a run. This is
 * the one place an endpoint becomes a backend.
 */
export class RegistryPool implements Registries {
  private readonly byKey = new Map<string, RegistryApi>()
  private readonly dockerConfigs = new Map<string, CredentialSource>()

  /**
   * `signal` (SIGINT/SIGTERM) ends every request and retry wait of every registry at once;
   * `dockerConfig` is the docker config file used where an endpoint names none.
   */
  private readonly throttles = new Map<string, HostThrottle>()

  constructor(
    private readonly opts: {
      signal?: AbortSignal
      network?: NetworkSettings
      dockerConfig?: string
      /** requests and blob transfers in flight per host where its entry sets none (--concurrency) */
      concurrency?: number
      /** told when a blob download starts (progress views) */
      watch?: BackendWatch
    } = {},
  ) {}

  private readonly sides = new WeakMap<RegistryApi, Map<string, RegistryApi>>()

  /**
   * The backend as the pool hands it out: watched when someone watches, and with its authentication
   * failures said for one side (one backend serves both sides when they are the same endpoint).
   */
  private seen(api: RegistryApi, auth?: AuthHelp): RegistryApi {
    if (!this.opts.watch && !auth) return api
    const key = auth ? JSON.stringify(auth) : ''
    const views = this.sides.get(api) ?? new Map<string, RegistryApi>()
    this.sides.set(api, views)
    const view = views.get(key) ?? watched(api, this.opts.watch ?? {}, auth)
    views.set(key, view)
    return view
  }

  /** One throttle per host: its pause, lanes and ceiling hold for every client of it. */
  private throttle(host: string, lanes: LaneLimits, cfg: RegistryEndpoint): HostThrottle {
    let t = this.throttles.get(host)
    if (!t) {
      t = new HostThrottle(host, lanes, cfg.limits?.requestsPerSecond)
      this.throttles.set(host, t)
    }
    return t
  }

  get(cfg: EndpointConfig): RegistryApi {
    return cfg.kind === 'layout'
      ? this.seen(this.layout(cfg.path, cfg.mode))
      : this.seen(this.registry(cfg), cfg.authHelp)
  }

  private registry(cfg: RegistryEndpoint): RegistryApi {
    const configFile = cfg.dockerConfig === false ? undefined : (cfg.dockerConfig ?? this.opts.dockerConfig)
    const key = JSON.stringify([cfg.host, cfg.tls, credentialsKey(cfg.credentials), configFile])
    let api = this.byKey.get(key)
    if (!api) {
      const lanes = laneLimits(cfg.concurrency, this.opts.concurrency)
      const creds = cfg.credentials
      const explicit = typeof creds === 'function' ? creds : creds ? staticCredentials(creds) : undefined
      api = new HttpRegistry({
        name: cfg.host,
        host: apiHost(cfg.host),
        // explicit → docker config → anonymous, resolved only when the host asks for credentials
        credentials: chainCredentials(
          explicit,
          configFile ? this.dockerConfig(configFile, cfg.dockerConfigRequired === true) : undefined,
        ),
        tls: cfg.tls,
        // a keep-alive connection for every request and transfer the lanes allow at once
        connections: lanes.requests + lanes.blobs,
        headersTimeout: cfg.headersTimeout ?? this.opts.network?.timeoutMs,
        bodyTimeout: cfg.bodyTimeout ?? this.opts.network?.timeoutMs,
        retries: cfg.retries ?? this.opts.network?.retries,
        rateLimitWaitMs: this.opts.network?.rateLimitWaitMs,
        signal: this.opts.signal,
        throttle: this.throttle(apiHost(cfg.host), lanes, cfg),
        chunkSize: cfg.chunkSize,
        bandwidth: cfg.limits?.bandwidth,
      })
      this.byKey.set(key, api)
    }
    return api
  }

  private layout(path: string, mode: OciLayoutMode): RegistryApi {
    const key = `layout:${mode}:${path}`
    let api = this.byKey.get(key)
    if (!api) {
      api = new OciLayoutRegistry(path, { mode })
      this.byKey.set(key, api)
    }
    return api
  }

  /** Requests, retries, 429s and rate-limit waits per registry since the pool was made (/metrics). */
  stats(): ({ registry: string } & RequestCounts)[] {
    return [...this.byKey.values()].flatMap((api) => {
      const stats = api.requestStats?.()
      return stats ? [{ registry: api.name, ...stats }] : []
    })
  }

  private dockerConfig(file: string, required: boolean): CredentialSource {
    let source = this.dockerConfigs.get(file)
    if (!source) {
      source = dockerConfigCredentials(file, { required })
      this.dockerConfigs.set(file, source)
    }
    return source
  }
}
