import { ImgsyncError } from '../errors.js'
import { log, registerSecret } from '../log.js'
import type { Challenge } from './challenge.js'

/** What a credential source yields for one registry host. */
export interface Credentials {
  username?: string
  password?: string
  /** an OAuth2 refresh token (docker config `identitytoken`), exchanged by POST */
  identityToken?: string
}

/** Resolves credentials lazily, so a docker credential helper runs only for hosts that ask. */
export type CredentialSource = (host: string) => Promise<Credentials | undefined>

export function staticCredentials(creds: Credentials | undefined): CredentialSource {
  return async () => creds
}

interface CachedToken {
  token: string
  expiresAt: number
  /** lifetime in ms, to size the early-refresh margin */
  lifeMs: number
}

/** Fetches a token from `realm`; a seam so transport owns the HTTP and this owns the protocol. */
export type TokenFetch = (
  url: string,
  init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string },
) => Promise<{ status: number; json: () => Promise<unknown> }>

const EARLY_REFRESH_MS = 10_000
/** a streamed upload cannot be replayed after a 401: it gets a token with this much life left */
const STREAM_REFRESH_MS = 30_000
const DEFAULT_TOKEN_LIFE_S = 60

/** Whether a cached token still has enough life for a request; short-lived tokens scale the margin down. */
function fresh(t: CachedToken, forStream: boolean, now = Date.now()): boolean {
  const margin = forStream
    ? Math.min(STREAM_REFRESH_MS, t.lifeMs / 2)
    : Math.min(EARLY_REFRESH_MS, t.lifeMs / 4)
  return t.expiresAt - margin > now
}

/**
 * Authorization state for one registry host: which scheme it asked for, and bearer tokens cached
 * per scope set (distribution token spec).
 */
export class HostAuth {
  private scheme: 'none' | 'basic' | 'bearer' | undefined
  private realm = ''
  private service = ''
  private readonly tokens = new Map<string, CachedToken>()
  private readonly inflight = new Map<string, Promise<CachedToken>>()
  private creds: Promise<Credentials | undefined> | undefined

  constructor(
    private readonly host: string,
    private readonly source: CredentialSource,
    private readonly fetchToken: TokenFetch,
  ) {}

  get known(): boolean {
    return this.scheme !== undefined
  }

  credentials(): Promise<Credentials | undefined> {
    if (!this.creds) {
      this.creds = this.source(this.host).then((c) => {
        registerSecret(c?.password)
        registerSecret(c?.identityToken)
        return c
      })
    }
    return this.creds
  }

  /** Records what the registry's /v2/ answer (or a 401) asked for. */
  learn(challenge: Challenge | undefined): void {
    if (!challenge) {
      this.scheme = 'none'
      return
    }
    if (challenge.scheme === 'bearer' && challenge.params.realm) {
      this.scheme = 'bearer'
      this.realm = challenge.params.realm
      this.service = challenge.params.service ?? ''
    } else if (challenge.scheme === 'basic') {
      this.scheme = 'basic'
    } else {
      throw new ImgsyncError(
        'AUTH_FAILED',
        `${this.host} asks for unsupported authentication "${challenge.scheme}"`,
      )
    }
  }

  /**
   * The Authorization header for a request needing `scopes`, or undefined for anonymous access.
   * `forStream`: the request body cannot be replayed, so the token must not expire on the way.
   */
  async header(scopes: string[], opts: { forStream?: boolean } = {}): Promise<string | undefined> {
    if (this.scheme === 'basic') {
      const c = await this.credentials()
      if (!c?.username) return undefined
      return `Basic ${Buffer.from(`${c.username}:${c.password ?? ''}`).toString('base64')}`
    }
    if (this.scheme !== 'bearer') return undefined
    const key = scopeKey(scopes)
    const cached = this.tokens.get(key)
    if (cached && fresh(cached, opts.forStream === true)) return `Bearer ${cached.token}`
    let pending = this.inflight.get(key)
    if (!pending) {
      pending = this.requestToken(scopes).finally(() => this.inflight.delete(key))
      this.inflight.set(key, pending)
    }
    const token = await pending
    this.tokens.set(key, token)
    return `Bearer ${token.token}`
  }

  /** Drops a cached token after the registry rejected it (expired or too narrow). */
  invalidate(scopes: string[]): void {
    this.tokens.delete(scopeKey(scopes))
  }

  get isBearer(): boolean {
    return this.scheme === 'bearer'
  }

  /** /v2/ answered without asking for authentication (some registries ask only per repository) */
  get isOpen(): boolean {
    return this.scheme === 'none'
  }

  private async requestToken(scopes: string[]): Promise<CachedToken> {
    const c = await this.credentials()
    const url = new URL(this.realm)
    if (this.service) url.searchParams.set('service', this.service)
    let res: Awaited<ReturnType<TokenFetch>>
    if (c?.identityToken) {
      res = await this.oauthPost(url, scopes, c.identityToken, c.username)
    } else {
      for (const s of scopes) url.searchParams.append('scope', s)
      const headers: Record<string, string> = {}
      if (c?.username) {
        headers.authorization = `Basic ${Buffer.from(`${c.username}:${c.password ?? ''}`).toString('base64')}`
      }
      res = await this.fetchToken(url.toString(), { method: 'GET', headers })
    }
    if (res.status === 401 || res.status === 403 || (res.status === 400 && c?.identityToken)) {
      throw new ImgsyncError(
        'AUTH_FAILED',
        `${this.host}: the token service rejected ${c ? (c.identityToken ? 'the identity token' : 'the credentials') : 'anonymous access'} (HTTP ${res.status})`,
        {
          status: res.status,
          suggestions: [
            c
              ? c.identityToken
                ? 'the identity token may have expired: log in again (docker login)'
                : 'check the username and password'
              : 'give credentials: rule file, docker login, --src-creds-file / --dst-creds-file, or IMGSYNC_SRC_/IMGSYNC_DST_USERNAME and _PASSWORD',
          ],
        },
      )
    }
    if (res.status !== 200) {
      throw new ImgsyncError('AUTH_FAILED', `${this.host}: the token service answered HTTP ${res.status}`, {
        status: res.status,
        temporary: res.status >= 500,
      })
    }
    const body = await res.json()
    const field = (name: string): unknown =>
      body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined
    const text = (name: string) => {
      const v = field(name)
      return typeof v === 'string' && v !== '' ? v : undefined
    }
    const token = text('token') ?? text('access_token')
    registerSecret(text('token'))
    registerSecret(text('access_token'))
    registerSecret(text('refresh_token'))
    if (!token) throw new ImgsyncError('AUTH_FAILED', `${this.host}: the token service sent no token`)
    if (token.length > 16_384 || !/^[\x21-\x7e]+$/.test(token)) {
      // it goes into an Authorization header: no spaces, line breaks or other bytes that do not belong
      throw new ImgsyncError('AUTH_FAILED', `${this.host}: the token service sent an unusable token`)
    }
    const expiresIn = field('expires_in')
    const life =
      typeof expiresIn === 'number' && expiresIn > 0 ? Math.min(expiresIn, 86_400) : DEFAULT_TOKEN_LIFE_S
    log.debug(`token for ${this.host} [${scopes.join(' ')}] valid ${life}s`)
    // counted from receipt: the registry's clock may differ from ours, so issued_at is not trusted
    return { token, expiresAt: Date.now() + life * 1000, lifeMs: life * 1000 }
  }

  /**
   * OAuth2 refresh-token grant (one space-separated `scope`); token services without OAuth2 answer
   * 404/405 and get the GET form with the identity token as the Basic password.
   */
  private async oauthPost(url: URL, scopes: string[], refreshToken: string, username?: string) {
    const form = new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: 'imgsync',
      service: this.service,
      scope: scopes.join(' '),
    })
    const res = await this.fetchToken(url.origin + url.pathname, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
    })
    if (res.status !== 404 && res.status !== 405) return res
    log.debug(`${this.host}: the token service has no OAuth2 endpoint (HTTP ${res.status}); using GET`)
    for (const s of scopes) url.searchParams.append('scope', s)
    return this.fetchToken(url.toString(), {
      method: 'GET',
      headers: {
        authorization: `Basic ${Buffer.from(`${username || '<token>'}:${refreshToken}`).toString('base64')}`,
      },
    })
  }
}

function scopeKey(scopes: string[]): string {
  return [...scopes].sort().join(' ')
}

export function pullScope(repo: string): string {
  return `repository:${repo}:pull`
}

export function pushScope(repo: string): string {
  return `repository:${repo}:pull,push`
}
