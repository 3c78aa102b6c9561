import type { MinRate } from '../copy/verify-stream.js'
import { ImgsyncError } from '../errors.js'
import type { RegistryApi } from '../registry/api.js'
import { type CredentialSource, type Credentials, staticCredentials } from '../registry/auth.js'
import { chainCredentials, dockerConfigCredentials, dockerConfigPath } from '../registry/credentials.js'
import { HttpRegistry } from '../registry/http-registry.js'
import { DEFAULT_TIMEOUT_MS, LIMITS } from '../registry/limits.js'
import { OCI_PREFIX } from '../registry/location.js'
import { type OciLayoutMode, OciLayoutRegistry } from '../registry/oci-layout.js'
import { apiHost } from '../registry/reference.js'
import type { TlsOptions } from '../registry/transport.js'

/** How to reach one registry: from a rule-file entry or from ad-hoc flags and environment. */
export interface EndpointConfig {
  /** registry name as written in references (docker.io, host:port), or oci:PATH for a layout */
  host: string
  /** for oci:PATH: one layout (ad-hoc), or a directory of layouts, one per repository (rule file) */
  layout?: OciLayoutMode
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
  /** connections per origin */
  connections?: number
  headersTimeout?: number
  bodyTimeout?: number
  retries?: number
}

const sourceIds = new WeakMap<CredentialSource, number>()
let nextSourceId = 0

/** A pool key part for credentials: two different sources must never share a registry (tenants). */
function credentialsKey(creds: EndpointConfig['credentials']): unknown {
  if (typeof creds !== 'function') return creds
  let id = sourceIds.get(creds)
  if (id === undefined) {
    id = nextSourceId++
    sourceIds.set(creds, id)
  }
  return `source#${id}`
}

/**
 * IMGSYNC_TIMEOUT (seconds: how long to wait for an answer, and how long a body may stay idle) and
 * IMGSYNC_RETRIES (attempts after the first for temporary failures); unset means the defaults.
 */
export function envLimits(env: NodeJS.ProcessEnv = process.env): { timeoutMs?: number; retries?: number } {
  const out: { timeoutMs?: number; retries?: number } = {}
  const timeout = env.IMGSYNC_TIMEOUT?.trim()
  if (timeout) {
    const secs = Number(timeout)
    if (!Number.isFinite(secs) || secs <= 0 || secs > 86_400) {
      throw new ImgsyncError('INVALID_ARGUMENT', `IMGSYNC_TIMEOUT="${timeout}" is not a number of seconds`, {
        suggestions: ['set IMGSYNC_TIMEOUT to seconds between 0 and 86400 (e.g. 30), or unset it'],
      })
    }
    out.timeoutMs = Math.max(1, Math.round(secs * 1000))
  }
  const retries = env.IMGSYNC_RETRIES?.trim()
  if (retries) {
    const n = Number(retries)
    if (!Number.isInteger(n) || n < 0 || n > 20) {
      throw new ImgsyncError(
        'INVALID_ARGUMENT',
        `IMGSYNC_RETRIES="${retries}" is not a whole number from 0 to 20`,
        {
          suggestions: ['set IMGSYNC_RETRIES to 0-20 (default 3), or unset it'],
        },
      )
    }
    out.retries = n
  }
  return out
}

/** One RegistryApi per distinct endpoint, so token caches and pools are shared within a run. */
export class RegistryPool {
  private readonly byKey = new Map<string, RegistryApi>()
  private readonly dockerConfigs = new Map<string, CredentialSource>()

  private readonly limits: { timeoutMs?: number; retries?: number }

  /** `signal` (SIGINT/SIGTERM) ends every request and retry wait of every registry at once. */
  constructor(private readonly opts: { signal?: AbortSignal } = {}) {
    this.limits = envLimits()
  }

  get(cfg: EndpointConfig): RegistryApi {
    if (cfg.host.startsWith(OCI_PREFIX))
      return this.layout(cfg.host.slice(OCI_PREFIX.length), cfg.layout ?? 'single')
    const configFile = cfg.dockerConfig === false ? undefined : (cfg.dockerConfig ?? dockerConfigPath())
    const key = JSON.stringify([cfg.host, cfg.tls, credentialsKey(cfg.credentials), configFile])
    let api = this.byKey.get(key)
    if (!api) {
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
        connections: cfg.connections,
        headersTimeout: cfg.headersTimeout ?? this.limits.timeoutMs,
        bodyTimeout: cfg.bodyTimeout ?? this.limits.timeoutMs,
        retries: cfg.retries ?? this.limits.retries,
        signal: this.opts.signal,
      })
      this.byKey.set(key, api)
    }
    return api
  }

  private layout(path: string, mode: OciLayoutMode): RegistryApi {
    const key = `${OCI_PREFIX}${mode}:${path}`
    let api = this.byKey.get(key)
    if (!api) {
      api = new OciLayoutRegistry(path, { mode })
      this.byKey.set(key, api)
    }
    return api
  }

  /** The slowest a blob may move before it counts as stalled: LIMITS' floor per IMGSYNC_TIMEOUT. */
  get blobMinRate(): MinRate {
    return { bytes: LIMITS.blobMinBytesPerWindow, windowMs: this.limits.timeoutMs ?? DEFAULT_TIMEOUT_MS }
  }

  /** Requests and 429s per registry since the pool was made (for serve's /metrics). */
  stats(): { registry: string; requests: number; rateLimited: number }[] {
    const out: { registry: string; requests: number; rateLimited: number }[] = []
    for (const api of this.byKey.values()) {
      if (api instanceof HttpRegistry) {
        out.push({
          registry: api.name,
          requests: api.transport.stats.requests,
          rateLimited: api.transport.stats.rateLimited,
        })
      }
    }
    return out
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
