import type { Readable } from 'node:stream'
import { ImgsyncError } from '../errors.js'
import { log, warnOnce } from '../log.js'
import { isInternalHost, isInternalIp } from './addresses.js'
import { agentFor, type PoolOptions } from './agents.js'
import { type CredentialSource, HostAuth } from './auth.js'
import { drain, header, readBounded, readErrorText } from './bounded-body.js'
import { parseChallenges, pickChallenge } from './challenge.js'
import { errorForNetwork, errorForStatus, parseErrorBody } from './http-errors.js'
import { DEADLINE_PER_TIMEOUT, DEFAULT_TIMEOUT_MS, LIMITS } from './limits.js'
import { isLoopbackHost } from './reference.js'
import { RequestGuards } from './request-guards.js'
import { pause, RetryPolicy, retryAfterMs } from './retry-policy.js'
import { type Agent, type Dispatcher, request } from './undici.js'

export type { TlsOptions } from './agents.js'

export interface TransportOptions extends PoolOptions {
  credentials: CredentialSource
  /** attempts after the first for temporary failures */
  retries?: number
  /** base backoff in ms (doubled per attempt, with jitter) */
  backoffMs?: number
  /** ms for a whole answer (headers and body) to anything but a blob transfer */
  deadlineMs?: number
  /** ends every request and every wait at once (SIGINT/SIGTERM) */
  signal?: AbortSignal
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
  /** a blob transfer: no overall deadline, as a big layer takes what it takes */
  blob?: boolean
}

export interface RegistryResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Dispatcher.ResponseData['body']
  /** the URL that answered (after redirects) */
  url: string
}

const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308])
const MAX_REDIRECTS = 10

function isStream(body: RegistryRequest['body']): boolean {
  return typeof body === 'object' && body !== null && 'pipe' in body
}

/**
 * HTTP to one registry host: pooled keep-alive connections, the /v2/ ping and auth handshake,
 * one retry policy for every request (backoff, Retry-After), a deadline for every answer but blob
 * transfers, redirects followed by hand (never carrying Authorization to another host), and
 * registry errors mapped to stable codes.
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
  private readonly policy: RetryPolicy
  private readonly deadlineMs: number
  private readonly guards: RequestGuards
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
    this.policy = new RetryPolicy({ retries: opts.retries, backoffMs: opts.backoffMs })
    this.deadlineMs =
      opts.deadlineMs ?? DEADLINE_PER_TIMEOUT * Math.max(opts.headersTimeout ?? DEFAULT_TIMEOUT_MS, 1000)
    this.guards = new RequestGuards(opts.signal)
    this.auth = new HostAuth(opts.host, opts.credentials, (url, init) => this.tokenFetch(url, init))
  }

  /** `http://host` or `https://host`: where the API is served. */
  get origin(): string {
    return this._origin
  }

  /**
   * Whether a realm, redirect or Location is an internal IP literal (loopback, private, link-local)
   * while the registry itself is not: a registry must not steer us, or our credentials, inside.
   */
  pointsInside(target: URL): boolean {
    const registryHost = new URL(this.origin).hostname
    return target.hostname !== registryHost && isInternalIp(target.hostname) && !isInternalHost(registryHost)
  }

  private warnInsecure(): void {
    warnOnce(
      `TLS certificate verification is OFF for ${this.host} (insecure): anyone on the path can read the credentials and alter images; give the CA file instead (tls.ca / --src-ca / --dst-ca)`,
    )
  }

  /** Sends a request; 2xx and `allow`ed statuses come back, anything else throws an ImgsyncError. */
  async send(req: RegistryRequest): Promise<RegistryResponse> {
    await this.ensurePing()
    return this.retrying(req.what, !isStream(req.body), () => this.exchange(req))
  }

  /**
   * Sends a request and reads its whole body (at most `maxBytes`). A body that breaks off is asked
   * for again under the same retry policy as the request itself.
   */
  async read(req: RegistryRequest, maxBytes: number): Promise<{ res: RegistryResponse; bytes: Buffer }> {
    await this.ensurePing()
    return this.retrying(req.what, true, async () => {
      const res = await this.exchange(req)
      const bytes = await readBounded(res.body, res.headers, maxBytes, this.host, req.what)
      return { res, bytes }
    })
  }

  /** Runs `attempt` until it succeeds, fails for good, or the retry budget is spent. */
  private async retrying<T>(what: string, replayable: boolean, attempt: () => Promise<T>): Promise<T> {
    for (let n = 0; ; n++) {
      try {
        return await attempt()
      } catch (err) {
        const e = errorForNetwork(err, this.host, what)
        if (!e.temporary || !replayable || !this.policy.allows(n)) throw e
        this.stats.retries++
        const wait = this.policy.delayMs(n, e.retryAfterMs)
        log.debug(`retry ${n + 1}/${this.policy.retries} in ${Math.round(wait)}ms: ${e.message}`)
        const guard = this.guards.open(undefined, `${this.host}: ${what}`)
        await pause(wait, guard.signal).finally(guard.done)
      }
    }
  }

  /** One request with its auth handshake: a 401 may be answered once with fresh credentials. */
  private async exchange(req: RegistryRequest): Promise<RegistryResponse> {
    const replayable = !isStream(req.body)
    let reauthed = false
    let relearned = false
    for (;;) {
      const res = await this.once(req)
      if (res.status < 300 || req.allow?.includes(res.status)) return res
      const text = await readErrorText(res.body, LIMITS.errorBodyBytes)
      const challenge = () => pickChallenge(parseChallenges(res.headers['www-authenticate']))
      if (res.status === 401 && this.auth.isOpen && !relearned) {
        // /v2/ was open but this repository is not: learn its challenge and authenticate, once
        relearned = true
        const c = challenge()
        if (c) {
          this.auth.learn(c)
          if (replayable) continue
        }
      }
      if (res.status === 401 && this.auth.isBearer) {
        const insufficientScope = challenge()?.params.error === 'insufficient_scope'
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
      if (res.status === 429) this.stats.rateLimited++
      throw errorForStatus(res.status, parseErrorBody(text), this.host, req.what, req.method, {
        retryAfterMs: retryAfterMs(header(res.headers, 'retry-after')),
      })
    }
  }

  /** One HTTP exchange, following redirects by hand. */
  private async once(req: RegistryRequest): Promise<RegistryResponse> {
    let url = req.path.startsWith('http') ? req.path : this.origin + req.path
    const authorization = await this.auth.header(req.scopes, { forStream: isStream(req.body) })
    const guard = this.guards.open(req.blob ? undefined : this.deadlineMs, `${this.host}: ${req.what}`)
    try {
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
          signal: guard.signal,
          // undici closes the connection after a HEAD unless told otherwise: a no-op re-sync is all HEADs
          ...(req.method === 'HEAD' && { reset: false }),
        })
        if (log.enabled('debug')) log.debug(`${res.statusCode} ${req.method} ${url}`)
        const warning = header(res.headers, 'warning')
        if (warning) warnOnce(`${this.host}: ${warning}`)
        if (REDIRECT_STATUS.has(res.statusCode) && (req.method === 'GET' || req.method === 'HEAD')) {
          await drain(res.body)
          url = this.redirectTarget(header(res.headers, 'location'), url, hop, req.what)
          continue
        }
        res.body.once('close', guard.done)
        return { status: res.statusCode, headers: res.headers, body: res.body, url }
      }
    } catch (err) {
      guard.done()
      throw err
    }
  }

  private redirectTarget(location: string | undefined, from: string, hop: number, what: string): string {
    if (!location)
      throw new ImgsyncError('REGISTRY_ERROR', `${this.host}: ${what}: redirect without Location`)
    if (hop >= MAX_REDIRECTS)
      throw new ImgsyncError('REGISTRY_ERROR', `${this.host}: ${what}: too many redirects`)
    const next = this.absoluteUrl(location, from, what)
    if (this.pointsInside(next)) {
      throw new ImgsyncError(
        'REGISTRY_ERROR',
        `${this.host}: ${what}: refusing a redirect to the internal address ${next.host}`,
      )
    }
    return next.toString()
  }

  /** A URL the registry sent (Location, Link), resolved against `base`; only http(s) is accepted. */
  absoluteUrl(text: string, base: string, what: string): URL {
    let url: URL | undefined
    try {
      url = new URL(text, base)
    } catch {
      url = undefined
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password) {
      throw new ImgsyncError('REGISTRY_ERROR', `${this.host}: ${what}: the registry sent an unusable URL`, {
        suggestions: ['the registry answered with a Location or Link that is not an http(s) URL'],
      })
    }
    return url
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
    try {
      // an unreachable host fails at once: there is nothing to wait for
      await this.retrying('connect', true, () => this.pingOnce())
    } catch (err) {
      const e = errorForNetwork(err, this.host, 'connect')
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

  private async pingOnce(): Promise<void> {
    const guard = this.guards.open(this.deadlineMs, `${this.host}: GET /v2/`)
    let res: Dispatcher.ResponseData
    try {
      res = await request(`${this.origin}/v2/`, {
        method: 'GET',
        headers: { 'user-agent': 'imgsync' },
        dispatcher: this.agent,
        signal: guard.signal,
      })
    } catch (err) {
      guard.done()
      const e = errorForNetwork(err, this.host, 'connect')
      // a refused or unresolvable host is not coming back in a second
      if (/cannot connect/.test(e.message))
        throw new ImgsyncError(e.code, e.message, { suggestions: e.suggestions })
      throw e
    }
    this.stats.requests++
    const text = await readErrorText(res.body, LIMITS.errorBodyBytes)
    guard.done()
    if (res.statusCode === 400 && this.mayUpgrade) {
      // a loopback registry that speaks TLS answers plain HTTP with "...HTTP request to an HTTPS server"
      this.mayUpgrade = false
      if (/https/i.test(text)) {
        this._origin = `https://${this.host}`
        log.debug(`${this.host} speaks TLS; switching to https`)
        return this.pingOnce()
      }
    }
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
    throw errorForStatus(res.statusCode, {}, this.host, 'GET /v2/', 'GET', {
      retryAfterMs: retryAfterMs(header(res.headers, 'retry-after')),
    })
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
    const guard = this.guards.open(this.deadlineMs, `${target.host}: token request`)
    try {
      const res = await request(url, {
        method: init.method,
        headers: { 'user-agent': 'imgsync', ...init.headers },
        body: init.body,
        dispatcher: this.agent,
        signal: guard.signal,
      })
      this.stats.requests++
      const bytes = await readBounded(res.body, res.headers, LIMITS.tokenBytes, target.host, 'token request')
      return {
        status: res.statusCode,
        json: async () => {
          try {
            return JSON.parse(bytes.toString('utf8')) as unknown
          } catch {
            throw new ImgsyncError('AUTH_FAILED', `${this.host}: the token service sent an unreadable answer`)
          }
        },
      }
    } catch (err) {
      throw errorForNetwork(err, target.host, 'token request')
    } finally {
      guard.done()
    }
  }
}
