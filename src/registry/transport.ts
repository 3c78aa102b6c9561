import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import type { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { ImgsyncError, isImgsyncError } from '../errors.js'
import { log, warnOnce } from '../log.js'
import { type CredentialSource, HostAuth } from './auth.js'
import { parseChallenges, pickChallenge } from './challenge.js'
import { isLoopbackHost } from './reference.js'
import { Agent, type Dispatcher, request } from './undici.js'

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

export interface TransportOptions {
  /** host[:port] the API is served on */
  host: string
  credentials: CredentialSource
  tls?: TlsOptions
  /** connections kept per origin */
  connections?: number
  /** ms to wait for response headers */
  headersTimeout?: number
  /** ms a response body may stay idle (not a total limit, so large blobs are fine) */
  bodyTimeout?: number
  /** attempts after the first for temporary failures */
  retries?: number
  /** base backoff in ms (doubled per attempt, with jitter) */
  backoffMs?: number
}

export interface RegistryRequest {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE'
  /** a path below the origin (`/v2/...`) or an absolute URL (an upload Location) */
  path: string
  headers?: Record<string, string>
  body?: Buffer | string | Readable
  /** token scopes this request needs */
  scopes: string[]
  /** statuses returned to the caller instead of being turned into errors (2xx always are) */
  allow?: number[]
  /** what the request is about, for error messages ("manifest app:1.0") */
  what: string
}

export interface RegistryResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Dispatcher.ResponseData['body']
  /** the URL that answered (after redirects) */
  url: string
}

const TEMPORARY_STATUS = new Set([408, 429, 500, 502, 503, 504])
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308])
const MAX_REDIRECTS = 10
const MAX_RETRY_AFTER_MS = 60_000
const TLS_ERROR =
  /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS|SSL|EPROTO|wrong version number|DEPTH_ZERO/i

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
function agentFor(opts: TransportOptions): Agent {
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

/** A loopback, private, link-local or unspecified IP literal (URL hostname form; v6 in brackets). */
export function isInternalIp(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  if (isIP(h) === 4) {
    const [a = 0, b = 0] = h.split('.').map(Number)
    return (
      a === 127 ||
      a === 10 ||
      a === 0 ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 169 && b === 254) ||
      (a === 100 && b >= 64 && b <= 127)
    )
  }
  if (isIP(h) === 6) {
    if (h === '::1' || h === '::') return true
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h)
    if (mapped) return isInternalIp(mapped[1]!)
    // the URL parser writes ::ffff:10.0.0.1 as ::ffff:a00:1
    const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(h)
    if (hex) {
      const hi = Number.parseInt(hex[1]!, 16)
      const lo = Number.parseInt(hex[2]!, 16)
      return isInternalIp(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`)
    }
    return /^f[cd]/.test(h) || /^fe[89ab]/.test(h)
  }
  return false
}

/** An internal IP literal or `localhost`: the registry itself lives on an inside network. */
function isInternalHost(hostname: string): boolean {
  return hostname === 'localhost' || isInternalIp(hostname)
}

/** Registry error body: `{"errors":[{"code","message"}]}`; may be empty or not JSON. */
function parseErrorBody(text: string): { code?: string; message?: string } {
  try {
    const json = JSON.parse(text) as { errors?: { code?: string; message?: string }[] }
    const first = json.errors?.[0]
    if (first) return { code: first.code, message: first.message }
  } catch {
    // not JSON: fall through to the status
  }
  return {}
}

function header(headers: RegistryResponse['headers'], name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}

/** Retry-After as milliseconds (seconds or an HTTP date), capped. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined
  const secs = Number(value)
  const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(value) - now
  if (!Number.isFinite(ms)) return undefined
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS)
}

/** Maps an HTTP error answer to our stable codes; the registry's own code is kept alongside. */
export function errorForStatus(
  status: number,
  body: { code?: string; message?: string },
  host: string,
  what: string,
  method?: string,
): ImgsyncError {
  const detail = body.message ? `: ${[body.code, body.message].filter(Boolean).join(' ')}` : ''
  const opts = { status, registryCode: body.code, temporary: TEMPORARY_STATUS.has(status) }
  const base = `${host}: ${what}`
  if (status === 401) {
    return new ImgsyncError('AUTH_FAILED', `${base}: authentication failed (HTTP 401)${detail}`, {
      ...opts,
      suggestions: ['check the credentials for this registry'],
    })
  }
  if (status === 403 || body.code === 'DENIED') {
    return new ImgsyncError('DENIED', `${base}: permission denied (HTTP ${status})${detail}`, {
      ...opts,
      suggestions: ['the account needs pull on the source and push on the target'],
    })
  }
  if (status === 404 && (method === 'POST' || method === 'PUT' || method === 'PATCH')) {
    if (body.code === 'NAME_UNKNOWN' || body.code === 'NOT_FOUND' || body.code === undefined) {
      // ECR, Artifact Registry, Harbor projects, SWR organisations: no create-on-push
      return new ImgsyncError(
        'NOT_FOUND',
        `${base}: the target repository does not exist and this registry does not create it on push${detail}`,
        { ...opts, suggestions: ['create the repository (or its project/namespace) on the target first'] },
      )
    }
  }
  if (status === 404) {
    const msg =
      body.code === 'NAME_UNKNOWN'
        ? 'repository not found'
        : body.code === 'MANIFEST_UNKNOWN'
          ? 'not found'
          : body.code === 'BLOB_UNKNOWN'
            ? 'blob not found'
            : 'not found (HTTP 404)'
    return new ImgsyncError('NOT_FOUND', `${base}: ${msg}`, opts)
  }
  if (status === 429) {
    return new ImgsyncError('RATE_LIMITED', `${base}: rate limited (HTTP 429)`, {
      ...opts,
      suggestions: ['lower --concurrency or retry later'],
    })
  }
  if (status === 415 || body.code === 'MANIFEST_INVALID' || body.code === 'UNSUPPORTED') {
    return new ImgsyncError(
      'UNSUPPORTED_MEDIA_TYPE',
      `${base}: the registry refused it (HTTP ${status})${detail}`,
      opts,
    )
  }
  if (body.code === 'DIGEST_INVALID' || body.code === 'SIZE_INVALID') {
    return new ImgsyncError('DIGEST_MISMATCH', `${base}: the registry saw different content${detail}`, opts)
  }
  if (body.code === 'NAME_INVALID' || body.code === 'TAG_INVALID') {
    return new ImgsyncError('INVALID_REFERENCE', `${base}: the registry refused the name${detail}`, opts)
  }
  return new ImgsyncError('REGISTRY_ERROR', `${base}: HTTP ${status}${detail}`, opts)
}

/** Turns a socket-level failure into NETWORK / TIMEOUT / TLS with the host named. */
export function errorForNetwork(err: unknown, host: string, what: string): ImgsyncError {
  if (isImgsyncError(err)) return err
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } }
  const code = e?.code ?? e?.cause?.code ?? ''
  const message = e?.cause?.message ?? e?.message ?? String(err)
  if (
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT'
  ) {
    return new ImgsyncError('TIMEOUT', `${host}: ${what}: no answer in time (${code})`, {
      temporary: true,
      suggestions: [
        'check the network, or raise IMGSYNC_TIMEOUT (seconds; default 30 for an answer, 60 for an idle body)',
      ],
    })
  }
  if (code === 'UND_ERR_DESTROYED') {
    // imgsync closed its own connections (stopping after a signal): retrying cannot help
    return new ImgsyncError('NETWORK', `${host}: ${what}: connection closed (imgsync is stopping)`)
  }
  const unreachable =
    code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'EAI_AGAIN'
  // a host named like ssl.example.com that does not resolve is a network problem, not TLS
  if (!unreachable && (TLS_ERROR.test(code) || (!code && TLS_ERROR.test(message)))) {
    // OpenSSL reasons arrive as "<hex>:error:<hex>:SSL routines:<fn>:<reason>:<file>:<line>:\n": keep the reason
    const first = message.split('\n')[0] ?? message
    const reason = /:SSL routines:[^:]*:([^:]+):/.exec(first)?.[1] ?? first
    if (/wrong version number|packet length too long|http request/i.test(reason)) {
      return new ImgsyncError('TLS', `${host}: TLS handshake failed (${reason}): it answers plain HTTP`, {
        suggestions: [
          'leave out its CA (tls.ca / --src-ca / --dst-ca), or say tls.plainHttp: true / --src-plain-http / --dst-plain-http',
        ],
      })
    }
    return new ImgsyncError('TLS', `${host}: TLS handshake failed: ${reason}`, {
      suggestions: [
        `give the CA file that signed its certificate: registries.<name>.tls.ca, or --src-ca / --dst-ca`,
        'only for a test registry: tls.insecure: true, or --src-insecure / --dst-insecure',
      ],
    })
  }
  return new ImgsyncError(
    'NETWORK',
    `${host}: ${what}: ${unreachable ? 'cannot connect' : 'connection failed'} (${code || message})`,
    {
      temporary: true,
      suggestions: unreachable ? [`check that ${host} is the right host and port and is reachable`] : [],
    },
  )
}

/**
 * HTTP to one registry host: pooled keep-alive connections, the /v2/ ping and auth handshake,
 * retries with backoff and Retry-After, redirects followed by hand (never carrying Authorization
 * to another host), and registry errors mapped to stable codes.
 */
export class RegistryTransport {
  readonly host: string
  private _origin: string
  /** a loopback host defaulted to plain HTTP, so it may turn out to speak TLS (see doPing) */
  private mayUpgrade: boolean
  private readonly insecure: boolean
  private readonly clientCert: boolean
  private readonly agent: Agent
  private readonly auth: HostAuth
  private ping: Promise<void> | undefined
  private readonly retries: number
  private readonly backoffMs: number
  /** counts of requests by outcome, for metrics and tests */
  readonly stats = { requests: 0, retries: 0, rateLimited: 0 }

  constructor(opts: TransportOptions) {
    this.host = opts.host
    const plain = opts.tls?.plainHttp ?? (isLoopbackHost(opts.host) && !opts.tls?.ca && !opts.tls?.insecure)
    this._origin = `${plain ? 'http' : 'https'}://${opts.host}`
    this.mayUpgrade = plain && opts.tls?.plainHttp === undefined
    this.insecure = opts.tls?.insecure === true
    this.clientCert = opts.tls?.cert !== undefined
    if (this.insecure && !plain) this.warnInsecure()
    this.agent = agentFor(opts)
    this.retries = opts.retries ?? 3
    this.backoffMs = opts.backoffMs ?? 200
    this.auth = new HostAuth(opts.host, opts.credentials, (url, init) => this.tokenFetch(url, init))
  }

  /**
   * Whether a realm or redirect target is an internal IP literal (loopback, private, link-local)
   * while the registry itself is not: a registry must not steer us, or our credentials, inside.
   */
  private pointsInside(target: URL): boolean {
    const registryHost = new URL(this.origin).hostname
    return target.hostname !== registryHost && isInternalIp(target.hostname) && !isInternalHost(registryHost)
  }

  /** `http://host` or `https://host`: where the API is served. */
  get origin(): string {
    return this._origin
  }

  private warnInsecure(): void {
    warnOnce(
      `TLS certificate verification is OFF for ${this.host} (insecure): anyone on the path can read the credentials and alter images; give the CA file instead (tls.ca / --src-ca / --dst-ca)`,
    )
  }

  /** Sends a request; 2xx and `allow`ed statuses come back, anything else throws an ImgsyncError. */
  async send(req: RegistryRequest): Promise<RegistryResponse> {
    await this.ensurePing()
    const replayable = !(req.body && typeof req.body === 'object' && 'pipe' in req.body)
    let attempt = 0
    let reauthed = false
    let relearned = false
    for (;;) {
      let res: RegistryResponse
      try {
        res = await this.once(req)
      } catch (err) {
        const e = errorForNetwork(err, this.host, req.what)
        if (e.temporary && replayable && attempt < this.retries) {
          await this.backoff(attempt++, undefined, e.message)
          continue
        }
        throw e
      }
      if (res.status < 300 || req.allow?.includes(res.status)) return res
      const text = await readText(res)
      if (res.status === 401 && this.auth.isOpen && !relearned) {
        // /v2/ was open but this repository is not: learn its challenge and authenticate, once
        relearned = true
        const challenge = pickChallenge(parseChallenges(res.headers['www-authenticate']))
        if (challenge) {
          this.auth.learn(challenge)
          if (replayable) continue
        }
      }
      if (res.status === 401 && this.auth.isBearer) {
        const challenge = pickChallenge(parseChallenges(res.headers['www-authenticate']))
        const insufficientScope = challenge?.params.error === 'insufficient_scope'
        if (!reauthed) {
          // an expired token or one for too few scopes: fetch a fresh one, once
          reauthed = true
          this.auth.invalidate(req.scopes)
          if (replayable) continue
          if (!insufficientScope) {
            // a streamed body is gone: the caller restarts the whole upload with a fresh token
            throw new ImgsyncError(
              'AUTH_FAILED',
              `${this.host}: ${req.what}: the token expired during the request`,
              { status: 401, temporary: true },
            )
          }
        }
        if (insufficientScope) {
          // the token service authenticated us but granted less than we asked for
          throw new ImgsyncError(
            'DENIED',
            `${this.host}: ${req.what}: permission denied (the token lacks ${req.scopes.join(' ')})`,
            {
              status: 401,
              registryCode: 'DENIED',
              suggestions: ['the account needs pull on the source and push on the target repository'],
            },
          )
        }
      }
      const err = errorForStatus(res.status, parseErrorBody(text), this.host, req.what, req.method)
      if (res.status === 429) this.stats.rateLimited++
      if (err.temporary && replayable && attempt < this.retries) {
        await this.backoff(attempt++, retryAfterMs(header(res.headers, 'retry-after')), err.message)
        continue
      }
      throw err
    }
  }

  /** One HTTP exchange, following redirects by hand. */
  private async once(req: RegistryRequest): Promise<RegistryResponse> {
    let url = req.path.startsWith('http') ? req.path : this.origin + req.path
    const forStream = typeof req.body === 'object' && req.body !== null && 'pipe' in req.body
    const authorization = await this.auth.header(req.scopes, { forStream })
    for (let hop = 0; ; hop++) {
      const sameHost = new URL(url).origin === this.origin
      const headers: Record<string, string> = { 'user-agent': 'imgsync', ...req.headers }
      if (authorization && sameHost) headers.authorization = authorization
      this.stats.requests++
      if (log.enabled('debug')) log.debug(`${req.method} ${url}`)
      const res = await request(url, {
        method: req.method,
        headers,
        body: req.body,
        dispatcher: this.agent,
        // undici closes the connection after a HEAD unless told otherwise: a no-op re-sync is all HEADs
        ...(req.method === 'HEAD' && { reset: false }),
      })
      if (log.enabled('debug')) log.debug(`${res.statusCode} ${req.method} ${url}`)
      const warning = header(res.headers, 'warning')
      if (warning) warnOnce(`${this.host}: ${warning}`)
      if (REDIRECT_STATUS.has(res.statusCode) && (req.method === 'GET' || req.method === 'HEAD')) {
        const location = header(res.headers, 'location')
        await res.body.dump()
        if (!location)
          throw new ImgsyncError('REGISTRY_ERROR', `${this.host}: ${req.what}: redirect without Location`)
        if (hop >= MAX_REDIRECTS)
          throw new ImgsyncError('REGISTRY_ERROR', `${this.host}: ${req.what}: too many redirects`)
        const next = new URL(location, url)
        if (this.pointsInside(next)) {
          throw new ImgsyncError(
            'REGISTRY_ERROR',
            `${this.host}: ${req.what}: refusing a redirect to the internal address ${next.host}`,
          )
        }
        url = next.toString()
        continue
      }
      return { status: res.statusCode, headers: res.headers, body: res.body, url }
    }
  }

  /** GET /v2/ once per host to learn whether and how it wants authentication. */
  private ensurePing(): Promise<void> {
    if (!this.ping) {
      this.ping = this.doPing().catch((err) => {
        this.ping = undefined
        throw err
      })
    }
    return this.ping
  }

  private async doPing(): Promise<void> {
    let attempt = 0
    for (;;) {
      try {
        const res = await request(`${this.origin}/v2/`, {
          method: 'GET',
          headers: { 'user-agent': 'imgsync' },
          dispatcher: this.agent,
        })
        this.stats.requests++
        if (res.statusCode === 400 && this.mayUpgrade) {
          // a loopback registry that speaks TLS answers plain HTTP with "...HTTP request to an HTTPS server"
          const text = await res.body.text().catch(() => '')
          this.mayUpgrade = false
          if (/https/i.test(text)) {
            this._origin = `https://${this.host}`
            log.debug(`${this.host} speaks TLS; switching to https`)
            continue
          }
        } else await res.body.dump()
        if (res.statusCode === 200) return this.auth.learn(undefined)
        if (res.statusCode === 401) {
          const challenge = pickChallenge(parseChallenges(res.headers['www-authenticate']))
          if (!challenge) {
            throw new ImgsyncError(
              'AUTH_FAILED',
              `${this.host}: asks for authentication without a usable challenge`,
            )
          }
          this.auth.learn(challenge)
          if (challenge.scheme === 'basic' && !(await this.auth.credentials())?.username) {
            throw new ImgsyncError('AUTH_FAILED', `${this.host}: needs a username and password`, {
              suggestions: [
                'give credentials: rule file, docker login, --src-creds-file / --dst-creds-file, or IMGSYNC_SRC_/IMGSYNC_DST_USERNAME and _PASSWORD',
              ],
            })
          }
          return
        }
        if (res.statusCode === 404) {
          throw new ImgsyncError(
            'REGISTRY_ERROR',
            `${this.host}: does not look like an OCI registry (GET /v2/ → 404)`,
            {
              suggestions: ['check the host and port'],
            },
          )
        }
        const err = errorForStatus(res.statusCode, {}, this.host, 'GET /v2/')
        if (err.temporary && attempt < this.retries) {
          await this.backoff(attempt++, retryAfterMs(header(res.headers, 'retry-after')), err.message)
          continue
        }
        throw err
      } catch (err) {
        const e = errorForNetwork(err, this.host, 'connect')
        if (e.code === 'NETWORK' && attempt < this.retries && !/cannot connect/.test(e.message)) {
          await this.backoff(attempt++, undefined, e.message)
          continue
        }
        if (
          e.code === 'NETWORK' &&
          this.origin.startsWith('https:') &&
          !this.clientCert &&
          /UND_ERR_SOCKET|ECONNRESET/.test(e.message)
        ) {
          // TLS 1.3 servers that demand a client certificate just close the connection
          throw new ImgsyncError(
            'TLS',
            `${this.host}: the registry closed the TLS connection before answering; it probably requires a client certificate`,
            { suggestions: ['give registries.<name>.tls.cert and tls.key (mutual TLS)'] },
          )
        }
        throw e
      }
    }
  }

  private async tokenFetch(
    url: string,
    init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string },
  ) {
    const target = new URL(url)
    if (
      target.protocol !== 'https:' &&
      !(target.protocol === 'http:' && (this.origin.startsWith('http:') || isLoopbackHost(target.host)))
    ) {
      throw new ImgsyncError('AUTH_FAILED', `${this.host}: refusing token realm ${target.origin} (not https)`)
    }
    if (this.pointsInside(target)) {
      throw new ImgsyncError(
        'AUTH_FAILED',
        `${this.host}: refusing token realm ${target.origin} (an internal address for a registry that is not)`,
      )
    }
    try {
      const res = await request(url, {
        method: init.method,
        headers: { 'user-agent': 'imgsync', ...init.headers },
        body: init.body,
        dispatcher: this.agent,
      })
      this.stats.requests++
      return {
        status: res.statusCode,
        json: async () => {
          try {
            return await res.body.json()
          } catch {
            throw new ImgsyncError('AUTH_FAILED', `${this.host}: the token service sent an unreadable answer`)
          }
        },
      }
    } catch (err) {
      throw errorForNetwork(err, target.host, 'token request')
    }
  }

  private async backoff(attempt: number, retryAfter: number | undefined, why: string): Promise<void> {
    this.stats.retries++
    const exp = this.backoffMs * 2 ** attempt
    const jittered = exp * (0.75 + Math.random() * 0.5)
    const wait = retryAfter ?? Math.min(jittered, 10_000)
    log.debug(`retry ${attempt + 1}/${this.retries} in ${Math.round(wait)}ms: ${why}`)
    await sleep(wait)
  }
}

/** Reads an error body (bounded) and frees the connection. */
async function readText(res: RegistryResponse): Promise<string> {
  try {
    const text = await res.body.text()
    return text.slice(0, 65_536)
  } catch {
    return ''
  }
}

export { header as responseHeader }
