import type { Readable } from 'node:stream'
import { ImgsyncError } from '../errors.js'
import { log, warnOnce } from '../log.js'
import { agentFor, type PoolOptions } from './agents.js'
import type { RequestCounts } from './api.js'
import type { CredentialSource, HostAuth } from './auth.js'
import { drain, header, readBounded, readErrorText } from './bounded-body.js'
import { parseChallenges, pickChallenge } from './challenge.js'
import { Handshake } from './handshake.js'
import { HostThrottle, type Lane, type Outcome } from './host-throttle.js'
import { errorForNetwork, errorForStatus, parseErrorBody } from './http-errors.js'
import { DEADLINE_PER_TIMEOUT, DEFAULT_TIMEOUT_MS, LIMITS } from './limits.js'
import { RequestGuards } from './request-guards.js'
import { noteRateLimitWait } from './request-stats.js'
import { isRateLimit, RetryPolicy, type RetryState, retryAfterMs } from './retry-policy.js'
import { type Agent, type Dispatcher, request } from './undici.js'

export type { TlsOptions } from './agents.js'

export interface TransportOptions extends PoolOptions {
  credentials: CredentialSource
  /** attempts after the first for temporary failures */
  retries?: number
  /** base backoff in ms (doubled per attempt, with jitter) */
  backoffMs?: number
  /** how long one request may wait out rate limits (ms) */
  rateLimitWaitMs?: number
  /** ms for a whole answer (headers and body) to anything but a blob transfer */
  deadlineMs?: number
  /** ends every request and every wait at once (SIGINT/SIGTERM) */
  signal?: AbortSignal
  /** the host's pause, concurrency and per-second ceiling, shared by every client of the host */
  throttle?: HostThrottle
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
  /** a pull as Docker Hub counts them (a manifest GET): refused once the host says none are left */
  pull?: boolean
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
  private readonly agent: Agent
  private readonly handshake: Handshake
  private readonly policy: RetryPolicy
  readonly throttle: HostThrottle
  private readonly deadlineMs: number
  private readonly guards: RequestGuards
  /** counts of requests by outcome, for metrics and tests */
  readonly stats: RequestCounts = { requests: 0, retries: 0, rateLimited: 0, rateLimitWaitMs: 0 }

  constructor(opts: TransportOptions) {
    this.host = opts.host
    this.agent = agentFor(opts)
    this.policy = new RetryPolicy({
      retries: opts.retries,
      backoffMs: opts.backoffMs,
      rateLimitWaitMs: opts.rateLimitWaitMs,
    })
    this.throttle = opts.throttle ?? new HostThrottle(opts.host, opts.connections ?? 32)
    this.deadlineMs =
      opts.deadlineMs ?? DEADLINE_PER_TIMEOUT * Math.max(opts.headersTimeout ?? DEFAULT_TIMEOUT_MS, 1000)
    this.guards = new RequestGuards(opts.signal)
    this.handshake = new Handshake({
      host: opts.host,
      tls: opts.tls,
      credentials: opts.credentials,
      agent: this.agent,
      guards: this.guards,
      deadlineMs: this.deadlineMs,
      stats: this.stats,
      retry: (what, attempt) => this.retrying(what, true, () => this.noting(attempt)),
    })
  }

  /** Notes whether the registry answered (for /healthz: how long it has been failing). */
  private async noting<T>(attempt: () => Promise<T>): Promise<T> {
    try {
      const result = await attempt()
      this.noteOutcome('ok')
      return result
    } catch (err) {
      const e = err as { code?: string; status?: number }
      const down = e.code === 'NETWORK' || e.code === 'TIMEOUT' || (e.status !== undefined && e.status >= 500)
      this.noteOutcome(down ? 'other' : 'ok')
      throw err
    }
  }

  /** For /healthz: how long this registry has failed (network, 5xx) with no success since. */
  private noteOutcome(outcome: Outcome): void {
    if (outcome === 'other') this.stats.failingSince ??= Date.now()
    else {
      this.stats.lastOkAt = Date.now()
      this.stats.failingSince = undefined
    }
  }

  /** `http://host` or `https://host`: where the API is served. */
  get origin(): string {
    return this.handshake.origin
  }

  /** Whether a URL the registry sent points at an internal address while the registry is not one. */
  pointsInside(target: URL): boolean {
    return this.handshake.pointsInside(target)
  }

  private get auth(): HostAuth {
    return this.handshake.auth
  }

  /** Sends a request; 2xx and `allow`ed statuses come back, anything else throws an ImgsyncError. */
  async send(req: RegistryRequest): Promise<RegistryResponse> {
    await this.handshake.ready()
    return this.retrying(req.what, !isStream(req.body), (state) => this.exchange(req, state))
  }

  /**
   * Sends a request and reads its whole body (at most `maxBytes`). A body that breaks off is asked
   * for again under the same retry policy as the request itself.
   */
  async read(req: RegistryRequest, maxBytes: number): Promise<{ res: RegistryResponse; bytes: Buffer }> {
    await this.handshake.ready()
    return this.retrying(req.what, true, async (state) => {
      const res = await this.exchange(req, state)
      const bytes = await readBounded(res.body, res.headers, maxBytes, this.host, req.what)
      return { res, bytes }
    })
  }

  /** The one retry policy, with this host's pause for rate limits. */
  private retrying<T>(
    what: string,
    replayable: boolean,
    attempt: (state: RetryState) => Promise<T>,
  ): Promise<T> {
    return this.policy.run(attempt, {
      what,
      replayable,
      throttle: this.throttle,
      toError: (err) => errorForNetwork(err, this.host, what),
      onRetry: () => {
        this.stats.retries++
      },
    })
  }

  /**
   * Waits for a slot at this host (its rate-limit pause, the lane's concurrency, per-second ceiling)
   * and counts the time a pause cost against the request's wait budget.
   */
  private async slot(state: RetryState, what: string, lane: Lane | 'none'): Promise<void> {
    const guard = this.guards.open(undefined, `${this.host}: ${what}`)
    try {
      const left = this.policy.rateLimitWaitMs - state.waitedMs
      const paused = await this.throttle.acquire(guard.signal, left, lane)
      state.waitedMs += paused
      this.stats.rateLimitWaitMs += paused
      noteRateLimitWait(paused)
    } finally {
      guard.done()
    }
  }

  /** One request with its auth handshake: a 401 may be answered once with fresh credentials. */
  private async exchange(req: RegistryRequest, state: RetryState): Promise<RegistryResponse> {
    const replayable = !isStream(req.body)
    let reauthed = false
    let relearned = false
    for (;;) {
      const res = await this.once(req, state)
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
      const error = errorForStatus(res.status, parseErrorBody(text), this.host, req.what, req.method, {
        retryAfterMs: retryAfterMs(header(res.headers, 'retry-after')),
      })
      if (isRateLimit(error)) {
        // every request to this host waits now, whoever retries this one
        this.stats.rateLimited++
        this.throttle.pause(error.retryAfterMs ?? this.policy.delayMs(0))
      }
      throw error
    }
  }

  /**
   * One HTTP exchange, following redirects by hand, in a slot of the host's `requests` lane until
   * its answer's headers are in: every request waiting for an answer takes one, a blob download
   * too (its bytes then stream in its transfer's slot), so a registry never has more than the
   * lane's requests waiting on it. Only the requests that send a blob's bytes (an upload's PUT
   * and PATCHes) run in their transfer's slot instead, counting towards the `blobs` lane's limit.
   */
  private async once(req: RegistryRequest, state: RetryState): Promise<RegistryResponse> {
    if (req.pull) this.throttle.checkPull()
    const lane: Lane | 'none' = req.blob && req.method !== 'GET' ? 'none' : 'requests'
    await this.slot(state, req.what, lane)
    let outcome: Outcome = 'other'
    try {
      const res = await this.follow(req)
      outcome = res.status === 429 ? 'limited' : res.status < 500 ? 'ok' : 'other'
      return res
    } finally {
      if (lane === 'none') this.throttle.note(outcome, 'blobs')
      else this.throttle.release(outcome, lane)
      this.noteOutcome(outcome)
    }
  }

  private async follow(req: RegistryRequest): Promise<RegistryResponse> {
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
        this.noteHeaders(res.headers)
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

  /** Registry Warning headers (logged once) and Docker Hub's pull allowance. */
  private noteHeaders(headers: RegistryResponse['headers']): void {
    const warning = header(headers, 'warning')
    if (warning) warnOnce(`${this.host}: ${warning}`)
    this.throttle.notePullAllowance(
      header(headers, 'ratelimit-remaining'),
      header(headers, 'ratelimit-limit'),
      header(headers, 'ratelimit-reset'),
    )
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
}
