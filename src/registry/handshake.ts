// The first contact with a registry host: where its API is (http or https: a loopback registry
// may turn out to speak TLS), whether and how it wants authentication (GET /v2/, challenges), and
// fetching tokens from its token service (never at an internal address for a registry that is not).
import { ImgsyncError } from '../errors.js'
import { log, warnOnce } from '../log.js'
import { isInternalHost, isInternalIp } from './addresses.js'
import type { TlsOptions } from './agents.js'
import { type CredentialSource, HostAuth } from './auth.js'
import { header, readBounded, readErrorText } from './bounded-body.js'
import { parseChallenges, pickChallenge } from './challenge.js'
import { errorForNetwork, errorForStatus } from './http-errors.js'
import { LIMITS } from './limits.js'
import { isLoopbackHost } from './reference.js'
import type { RequestGuards } from './request-guards.js'
import { retryAfterMs } from './retry-policy.js'
import { type Agent, type Dispatcher, request } from './undici.js'

export interface HandshakeOptions {
  host: string
  tls?: TlsOptions
  credentials: CredentialSource
  agent: Agent
  guards: RequestGuards
  deadlineMs: number
  stats: { requests: number }
  /** the transport's retry policy, for the /v2/ ping */
  retry: (what: string, attempt: () => Promise<void>) => Promise<void>
}

export class Handshake {
  readonly auth: HostAuth
  private readonly host: string
  private _origin: string
  /** a loopback host defaulted to plain HTTP, so it may turn out to speak TLS (see pingOnce) */
  private mayUpgrade: boolean
  private readonly clientCert: boolean
  private ping: Promise<void> | undefined

  constructor(private readonly opts: HandshakeOptions) {
    const { host, tls } = opts
    this.host = host
    const plain = tls?.plainHttp ?? (isLoopbackHost(host) && !tls?.ca && !tls?.insecure)
    this._origin = `${plain ? 'http' : 'https'}://${host}`
    this.mayUpgrade = plain && tls?.plainHttp === undefined
    this.clientCert = tls?.cert !== undefined
    if (tls?.insecure && !plain) {
      warnOnce(
        `TLS certificate verification is OFF for ${host} (insecure): anyone on the path can read the credentials and alter images; give the CA file instead (tls.ca / --src-ca / --dst-ca)`,
      )
    }
    this.auth = new HostAuth(host, opts.credentials, (url, init) => this.tokenFetch(url, init))
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

  /** GET /v2/ once per host to learn whether and how it wants authentication. */
  ready(): Promise<void> {
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
      await this.opts.retry('connect', () => this.pingOnce())
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
    const guard = this.opts.guards.open(this.opts.deadlineMs, `${this.host}: GET /v2/`)
    let res: Dispatcher.ResponseData
    try {
      res = await request(`${this.origin}/v2/`, {
        method: 'GET',
        headers: { 'user-agent': 'imgsync' },
        dispatcher: this.opts.agent,
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
    this.opts.stats.requests++
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
    const guard = this.opts.guards.open(this.opts.deadlineMs, `${target.host}: token request`)
    try {
      const res = await request(url, {
        method: init.method,
        headers: { 'user-agent': 'imgsync', ...init.headers },
        body: init.body,
        dispatcher: this.opts.agent,
        signal: guard.signal,
      })
      this.opts.stats.requests++
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
