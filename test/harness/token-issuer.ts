// A token issuer for distribution's `auth: token`, written for the tests (docker/distribution
// token spec + OAuth2 POST): RS256 JWTs signed by a key generated at start, whose self-signed
// X.509 certificate (made with openssl) is the registry's rootcertbundle and travels in the
// JWT's `x5c` header. Per-user access rules, refresh tokens (docker "identity tokens"), and a
// configurable lifetime to force refreshes mid-run. Loopback only.
import { execFile } from 'node:child_process'
import { createSign, generateKeyPairSync, randomUUID } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'

const execFileAsync = promisify(execFile)

export interface AccessGrant {
  /** repository pattern: exact name, `prefix/*` (any depth below) or `*` */
  repos: string
  actions: ('pull' | 'push' | 'delete')[]
}

export interface IssuerUser {
  password: string
  access: AccessGrant[]
  /** may list the catalog (registry:catalog:*) */
  catalog?: boolean
}

export interface TokenIssuerOptions {
  /** directory for the key and certificate */
  dir: string
  users: Record<string, IssuerUser>
  /** OAuth2 refresh tokens (docker identity tokens) → user name */
  refreshTokens?: Record<string, string>
  /** seconds the registry accepts a token (default 300) */
  lifetime?: number
  /** `expires_in` sent to the client (default: lifetime); larger than lifetime simulates clock skew */
  advertisedLifetime?: number
  /** answer POST with 404, like a token service without OAuth2 (clients must fall back to GET) */
  noOAuth?: boolean
  service?: string
}

export interface IssuerRequest {
  method: string
  /** the authenticated user, if any */
  user?: string
  grantType?: string
  scopes: string[]
  status: number
  /** the Authorization header was Basic with username `<token>` (identity token via GET) */
  identityViaBasic?: boolean
}

export interface TokenIssuer {
  url: string
  realm: string
  service: string
  issuer: string
  /** PEM certificate for distribution's auth.token.rootcertbundle */
  rootCertBundle: string
  requests: IssuerRequest[]
  /** every token handed out, to look for leaks */
  issued: string[]
  /** a token for `user` with exactly `access`, for test assertions against the registry */
  mint(user: string, access: { type: string; name: string; actions: string[] }[]): string
  /** changes the effective and advertised lifetime of tokens issued from now on */
  setLifetime(lifetime: number, advertised?: number): void
  /** turns the OAuth2 POST endpoint off (404) or on */
  setOAuth(enabled: boolean): void
  stop(): Promise<void>
}

// distribution 2.8 accepts a token up to 60 s after `exp` (clock-skew leeway): back-date `exp` so
// the registry really stops accepting it after `lifetime` seconds.
export const REGISTRY_LEEWAY_S = 60

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url')

function matches(pattern: string, name: string): boolean {
  if (pattern === '*') return true
  if (pattern.endsWith('/*')) return name.startsWith(pattern.slice(0, -1))
  return pattern === name
}

/** The granted part of one requested scope (intersection, as the spec says), or undefined. */
function grant(
  user: IssuerUser,
  scope: string,
): { type: string; name: string; actions: string[] } | undefined {
  const first = scope.indexOf(':')
  const last = scope.lastIndexOf(':')
  if (first < 0 || last <= first) return undefined
  const type = scope.slice(0, first)
  const name = scope.slice(first + 1, last)
  const wanted = scope.slice(last + 1).split(',')
  if (type === 'registry' && name === 'catalog') {
    return user.catalog ? { type, name, actions: ['*'] } : undefined
  }
  if (type !== 'repository') return undefined
  const allowed = new Set(user.access.filter((g) => matches(g.repos, name)).flatMap((g) => g.actions))
  const actions = wanted.filter((a) => allowed.has(a as 'pull'))
  return { type, name, actions }
}

export async function startTokenIssuer(opts: TokenIssuerOptions): Promise<TokenIssuer> {
  const service = opts.service ?? 'imgsync-test-registry'
  const issuerName = 'imgsync-test-issuer'
  let lifetime = opts.lifetime ?? 300
  let advertised = opts.advertisedLifetime ?? lifetime
  let noOAuth = opts.noOAuth ?? false
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const keyFile = join(opts.dir, 'issuer-key.pem')
  const certFile = join(opts.dir, 'issuer-cert.pem')
  await writeFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })
  await execFileAsync('openssl', [
    'req',
    '-x509',
    '-new',
    '-key',
    keyFile,
    '-subj',
    '/CN=imgsync test token issuer',
    '-days',
    '2',
    '-out',
    certFile,
  ])
  const certPem = await readFile(certFile, 'utf8')
  const certDer = certPem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '')
  const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c: [certDer] }))

  const requests: IssuerRequest[] = []
  const issued: string[] = []

  const sign = (sub: string, access: { type: string; name: string; actions: string[] }[]) => {
    const now = Math.floor(Date.now() / 1000)
    const claims = {
      iss: issuerName,
      sub,
      aud: service,
      exp: now + lifetime - REGISTRY_LEEWAY_S,
      nbf: now - 5,
      iat: now,
      jti: randomUUID(),
      access,
    }
    const payload = `${header}.${b64url(JSON.stringify(claims))}`
    const signature = createSign('RSA-SHA256').update(payload).sign(privateKey)
    const token = `${payload}.${b64url(signature)}`
    issued.push(token)
    return token
  }

  const authenticate = (
    username: string | undefined,
    password: string | undefined,
  ): { user?: string; viaToken?: boolean } => {
    if (username === undefined) return {}
    const fromRefresh = password !== undefined ? opts.refreshTokens?.[password] : undefined
    if (fromRefresh && (username === '<token>' || username === fromRefresh))
      return { user: fromRefresh, viaToken: true }
    const u = opts.users[username]
    if (u && password === u.password) return { user: username }
    return {}
  }

  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (url.pathname !== '/token') return send(res, 404, { error: 'not found' })
      if (req.method === 'POST') {
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
        const grantType = form.get('grant_type') ?? ''
        const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean)
        const entry: IssuerRequest = { method: 'POST', grantType, scopes, status: 0 }
        requests.push(entry)
        if (noOAuth) {
          entry.status = 404
          return send(res, 404, { error: 'no oauth here' })
        }
        let user: string | undefined
        if (grantType === 'refresh_token') user = opts.refreshTokens?.[form.get('refresh_token') ?? '']
        else if (grantType === 'password')
          user = authenticate(form.get('username') ?? undefined, form.get('password') ?? undefined).user
        entry.user = user
        if (!user || form.get('service') !== service) {
          entry.status = 400
          return send(res, 400, { error: 'invalid_grant' })
        }
        const access = scopes.map((s) => grant(opts.users[user]!, s)).filter((a) => a !== undefined)
        entry.status = 200
        return send(res, 200, {
          access_token: sign(user, access),
          expires_in: advertised,
          issued_at: new Date().toISOString(),
          scope: scopes.join(' '),
        })
      }
      if (req.method !== 'GET') return send(res, 405, { error: 'method not allowed' })
      const scopes = url.searchParams.getAll('scope')
      const entry: IssuerRequest = { method: 'GET', scopes, status: 0 }
      requests.push(entry)
      const auth = req.headers.authorization
      let username: string | undefined
      let password: string | undefined
      if (auth?.toLowerCase().startsWith('basic ')) {
        const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8')
        const colon = decoded.indexOf(':')
        username = decoded.slice(0, colon)
        password = decoded.slice(colon + 1)
      }
      const who = authenticate(username, password)
      entry.user = who.user
      entry.identityViaBasic = who.viaToken
      if (!who.user || url.searchParams.get('service') !== service) {
        entry.status = 401
        res.setHeader('www-authenticate', 'Basic realm="imgsync-test-issuer"')
        return send(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] })
      }
      const access = scopes.map((s) => grant(opts.users[who.user!]!, s)).filter((a) => a !== undefined)
      const token = sign(who.user, access)
      entry.status = 200
      return send(res, 200, {
        token,
        access_token: token,
        expires_in: advertised,
        issued_at: new Date().toISOString(),
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  const url = `http://127.0.0.1:${port}`
  return {
    url,
    realm: `${url}/token`,
    service,
    issuer: issuerName,
    rootCertBundle: certFile,
    requests,
    issued,
    mint: (user, access) => sign(user, access),
    setLifetime(l, a) {
      lifetime = l
      advertised = a ?? l
    },
    setOAuth(enabled) {
      noOAuth = !enabled
    },
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
