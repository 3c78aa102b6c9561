// Credential sources, the token protocol and auth-related transport behaviour, without a registry.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { redact } from '../../src/log.js'
import { isInternalIp } from '../../src/registry/addresses.js'
import { type Credentials, HostAuth, type TokenFetch } from '../../src/registry/auth.js'
import {
  chainCredentials,
  dockerConfigCredentials,
  normalizeConfigKey,
  readCredentialsFile,
} from '../../src/registry/credentials.js'
import { errorForStatus } from '../../src/registry/http-errors.js'
import { RegistryTransport } from '../../src/registry/transport.js'
import { rejection } from '../support/rejection.js'

let dir: string
const b64 = (s: string) => Buffer.from(s).toString('base64')

async function config(name: string, content: unknown): Promise<string> {
  const file = join(dir, `${name}.json`)
  await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content))
  return file
}

const originalPath = process.env.PATH
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'imgsync-unit-creds-'))
  // docker-credential-unit: knows two hosts; one of them answers with an identity token
  const helper = join(dir, 'docker-credential-unit')
  await writeFile(
    helper,
    `#!/bin/sh
read host
echo "$host" >> "${dir}/helper-calls"
case "$host" in
  reg.example.com) printf '{"ServerURL":"%s","Username":"helper-user","Secret":"helper-secret-1"}' "$host" ;;
  https://index.docker.io/v1/) printf '{"ServerURL":"%s","Username":"hub-user","Secret":"hub-secret-1"}' "$host" ;;
  oauth.example.com) printf '{"ServerURL":"%s","Username":"<token>","Secret":"identity-secret-1"}' "$host" ;;
  garbage.example.com) echo "this is not json" ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`,
  )
  await chmod(helper, 0o755)
  process.env.PATH = `${dir}${delimiter}${originalPath ?? ''}`
})
afterAll(async () => {
  process.env.PATH = originalPath
  await rm(dir, { recursive: true, force: true })
})

describe('docker config', () => {
  it('normalises config keys written with scheme, path or Hub aliases', () => {
    expect(normalizeConfigKey('https://index.docker.io/v1/')).toBe('docker.io')
    expect(normalizeConfigKey('registry-1.docker.io')).toBe('docker.io')
    expect(normalizeConfigKey('http://127.0.0.1:5000/v2/')).toBe('127.0.0.1:5000')
    expect(normalizeConfigKey('Reg.Example.COM')).toBe('reg.example.com')
  })

  it('reads auths: base64 user:password, username/password, identitytoken, Hub key', async () => {
    const file = await config('auths', {
      auths: {
        'https://reg.example.com': { auth: b64('alice:pa:ss') },
        'other.example.com:5000': { username: 'bob', password: 'bob-pw' },
        'oauth.example.com': { auth: b64('carol:'), identitytoken: 'refresh-xyz' },
        'https://index.docker.io/v1/': { auth: b64('hubby:hub-pw') },
        'empty.example.com': {},
      },
    })
    const source = dockerConfigCredentials(file)
    expect(await source('reg.example.com')).toEqual({ username: 'alice', password: 'pa:ss' })
    expect(await source('other.example.com:5000')).toEqual({ username: 'bob', password: 'bob-pw' })
    expect(await source('oauth.example.com')).toEqual({ username: 'carol', identityToken: 'refresh-xyz' })
    expect(await source('registry-1.docker.io')).toEqual({ username: 'hubby', password: 'hub-pw' })
    expect(await source('empty.example.com')).toBeUndefined()
    expect(await source('unknown.example.com')).toBeUndefined()
    // what was read is registered as secret
    expect(redact('pa:ss bob-pw refresh-xyz hub-pw')).not.toMatch(/pa:ss|bob-pw|refresh-xyz|hub-pw/)
  })

  it('a missing default file means no credentials; a named one must exist; bad JSON is not echoed', async () => {
    expect(await dockerConfigCredentials(join(dir, 'absent.json'))('reg.example.com')).toBeUndefined()
    const named = await rejection(
      dockerConfigCredentials(join(dir, 'absent.json'), { required: true })('reg.example.com'),
    )
    expect(named.code).toBe('CONFIG_INVALID')
    const bad = await config('bad', '{"auths": {"x": {"auth": "c2VjcmV0LXZhbHVl"}')
    const err = await rejection(dockerConfigCredentials(bad)('x'))
    expect(err.code).toBe('CONFIG_INVALID')
    expect(err.message).not.toContain('c2VjcmV0')
  })

  it('credHelpers[host] wins over auths and runs the helper protocol (host on stdin)', async () => {
    const file = await config('helpers', {
      auths: { 'reg.example.com': { auth: b64('file-user:file-pw') } },
      credHelpers: { 'reg.example.com': 'unit', 'docker.io': 'unit', 'oauth.example.com': 'unit' },
    })
    const source = dockerConfigCredentials(file)
    expect(await source('reg.example.com')).toEqual({ username: 'helper-user', password: 'helper-secret-1' })
    // Hub: the helper is asked for Hub's legacy server address
    expect(await source('registry-1.docker.io')).toEqual({ username: 'hub-user', password: 'hub-secret-1' })
    // Username <token>: an identity token
    expect(await source('oauth.example.com')).toEqual({ identityToken: 'identity-secret-1' })
    expect(redact('helper-secret-1 identity-secret-1')).toBe('<redacted> <redacted>')
  })

  it('credsStore: "not found" falls back to auths, then anonymous', async () => {
    const file = await config('store', {
      credsStore: 'unit',
      auths: { 'fallback.example.com': { auth: b64('fb:fb-pw') } },
    })
    const source = dockerConfigCredentials(file)
    expect(await source('reg.example.com')).toEqual({ username: 'helper-user', password: 'helper-secret-1' })
    expect(await source('fallback.example.com')).toEqual({ username: 'fb', password: 'fb-pw' })
    expect(await source('nothing.example.com')).toBeUndefined()
  })

  it('a missing helper is AUTH_FAILED naming it; an unreadable answer is AUTH_FAILED without echoing it', async () => {
    const file = await config('missing-helper', {
      credHelpers: { 'reg.example.com': 'no-such-helper', 'garbage.example.com': 'unit' },
    })
    const source = dockerConfigCredentials(file)
    const missing = await rejection(source('reg.example.com'))
    expect(missing.code).toBe('AUTH_FAILED')
    expect(missing.message).toContain('docker-credential-no-such-helper')
    const garbage = await rejection(source('garbage.example.com'))
    expect(garbage.code).toBe('AUTH_FAILED')
    expect(garbage.message).not.toContain('this is not json')
  })
})

describe('credentials files and chains', () => {
  it('reads user:password and JSON forms', async () => {
    const plain = join(dir, 'plain')
    await writeFile(plain, 'robot$ci:pa:ss:word\n', { mode: 0o600 })
    expect(readCredentialsFile(plain, '--src-creds-file')).toEqual({
      username: 'robot$ci',
      password: 'pa:ss:word',
    })
    const json = join(dir, 'creds.json')
    await writeFile(json, JSON.stringify({ username: 'u', password: 'json-pw' }), { mode: 0o600 })
    expect(readCredentialsFile(json, '--dst-creds-file')).toEqual({ username: 'u', password: 'json-pw' })
    const token = join(dir, 'token.json')
    await writeFile(token, JSON.stringify({ identitytoken: 'json-refresh' }), { mode: 0o600 })
    expect(readCredentialsFile(token, '--dst-creds-file')).toEqual({ identityToken: 'json-refresh' })
    const helperShaped = join(dir, 'helper.json')
    await writeFile(helperShaped, JSON.stringify({ Username: '<token>', Secret: 'helper-shaped' }), {
      mode: 0o600,
    })
    expect(readCredentialsFile(helperShaped, '--dst-creds-file')).toEqual({ identityToken: 'helper-shaped' })
    expect(redact('pa:ss:word json-pw json-refresh')).not.toMatch(/pa:ss:word|json-pw|json-refresh/)
  })

  it('rejects an empty or missing file with INVALID_ARGUMENT', async () => {
    const empty = join(dir, 'empty')
    await writeFile(empty, '\n', { mode: 0o600 })
    expect(() => readCredentialsFile(empty, '--src-creds-file')).toThrow(/holds no credentials/)
    expect(() => readCredentialsFile(join(dir, 'nope'), '--src-creds-file')).toThrow(/cannot read/)
  })

  it('the first source with credentials wins', async () => {
    const chain = chainCredentials(
      undefined,
      async () => ({}),
      async (h) => (h === 'a' ? { username: 'second' } : undefined),
      async () => ({ username: 'third' }),
    )
    expect(await chain('a')).toEqual({ username: 'second' })
    expect(await chain('b')).toEqual({ username: 'third' })
  })
})

describe('HostAuth token protocol', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  interface Call {
    url: string
    method: string
    headers: Record<string, string>
    body?: string
  }
  function fakeIssuer(answer: (call: Call) => { status: number; body?: unknown }) {
    const calls: Call[] = []
    let n = 0
    const fetchToken: TokenFetch = async (url, init) => {
      const call = { url, ...init }
      calls.push(call)
      const a = answer(call)
      const body = a.body ?? { token: `tok-${++n}`, expires_in: 60 }
      return { status: a.status, json: async () => body }
    }
    return { calls, fetchToken }
  }
  const challenge = {
    scheme: 'bearer',
    params: { realm: 'https://auth.example.com/token', service: 'reg.example.com' },
  }
  /** HostAuth for reg.example.com with these credentials, that has seen the bearer challenge. */
  function challenged(credentials: Credentials | undefined, fetchToken: TokenFetch): HostAuth {
    const auth = new HostAuth('reg.example.com', async () => credentials, fetchToken)
    auth.learn(challenge)
    return auth
  }

  it('GET with Basic credentials and one scope parameter per scope; cached per scope set', async () => {
    const issuer = fakeIssuer(() => ({ status: 200 }))
    const auth = challenged({ username: 'u', password: 'p' }, issuer.fetchToken)
    const scopes = ['repository:dst:pull,push', 'repository:src:pull']
    const [a, b] = await Promise.all([auth.header(scopes), auth.header([...scopes].reverse())])
    expect(a).toBe('Bearer tok-1')
    expect(b).toBe('Bearer tok-1')
    expect(issuer.calls).toHaveLength(1)
    const url = new URL(issuer.calls[0]!.url)
    expect(url.searchParams.get('service')).toBe('reg.example.com')
    expect(url.searchParams.getAll('scope')).toEqual(scopes)
    expect(issuer.calls[0]!.headers.authorization).toBe(`Basic ${b64('u:p')}`)
    expect(await auth.header(['repository:other:pull'])).toBe('Bearer tok-2')
  })

  it('refreshes before expiry, earlier for a streamed body', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(new Date('2026-01-01T00:00:00Z'))
    const issuer = fakeIssuer(() => ({ status: 200 }))
    const auth = challenged({ username: 'u', password: 'p' }, issuer.fetchToken)
    const s = ['repository:a:pull']
    expect(await auth.header(s)).toBe('Bearer tok-1')
    vi.setSystemTime(new Date('2026-01-01T00:00:40Z')) // 20 s left of 60
    expect(await auth.header(s)).toBe('Bearer tok-1')
    // a stream cannot be replayed after a 401: it wants 30 s of life left
    expect(await auth.header(s, { forStream: true })).toBe('Bearer tok-2')
    vi.setSystemTime(new Date('2026-01-01T00:01:32Z')) // tok-2: 8 s left, inside the 10 s margin
    expect(await auth.header(s)).toBe('Bearer tok-3')
    auth.invalidate(s)
    expect(await auth.header(s)).toBe('Bearer tok-4')
  })

  it('short-lived tokens get a proportionally short margin', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(new Date('2026-01-01T00:00:00Z'))
    let n = 0
    const issuer = fakeIssuer(() => ({ status: 200, body: { access_token: `short-${++n}`, expires_in: 2 } }))
    const auth = challenged(undefined, issuer.fetchToken)
    expect(await auth.header(['repository:a:pull'])).toBe('Bearer short-1')
    vi.setSystemTime(new Date('2026-01-01T00:00:01Z'))
    expect(await auth.header(['repository:a:pull'])).toBe('Bearer short-1')
    vi.setSystemTime(new Date('2026-01-01T00:00:01.600Z'))
    expect(await auth.header(['repository:a:pull'])).toBe('Bearer short-2')
  })

  it('identity token: OAuth2 POST with a refresh_token grant and one space-separated scope', async () => {
    const issuer = fakeIssuer(() => ({ status: 200 }))
    const auth = challenged({ identityToken: 'refresh-1' }, issuer.fetchToken)
    expect(await auth.header(['repository:a:pull', 'repository:b:pull,push'])).toBe('Bearer tok-1')
    const call = issuer.calls[0]!
    expect(call.method).toBe('POST')
    expect(call.url).toBe('https://auth.example.com/token')
    const form = new URLSearchParams(call.body)
    expect(form.get('grant_type')).toBe('refresh_token')
    expect(form.get('refresh_token')).toBe('refresh-1')
    expect(form.get('service')).toBe('reg.example.com')
    expect(form.get('scope')).toBe('repository:a:pull repository:b:pull,push')
  })

  it('identity token: falls back to GET (Basic <token>:secret) when POST is 404', async () => {
    const issuer = fakeIssuer((c) => ({ status: c.method === 'POST' ? 404 : 200 }))
    const auth = challenged({ identityToken: 'refresh-2' }, issuer.fetchToken)
    expect(await auth.header(['repository:a:pull'])).toBe('Bearer tok-2')
    expect(issuer.calls.map((c) => c.method)).toEqual(['POST', 'GET'])
    expect(issuer.calls[1]!.headers.authorization).toBe(`Basic ${b64('<token>:refresh-2')}`)
  })

  it('rejections are AUTH_FAILED saying what was rejected', async () => {
    const bad = challenged(
      { identityToken: 'expired' },
      fakeIssuer(() => ({ status: 400, body: { error: 'invalid_grant' } })).fetchToken,
    )
    const e1 = await rejection(bad.header(['repository:a:pull']))
    expect(e1.code).toBe('AUTH_FAILED')
    expect(e1.message).toMatch(/identity token/)
    const anon = challenged(undefined, fakeIssuer(() => ({ status: 401 })).fetchToken)
    const e2 = await rejection(anon.header(['repository:a:pull']))
    expect(e2.code).toBe('AUTH_FAILED')
    expect(e2.message).toMatch(/anonymous/)
    const down = challenged(undefined, fakeIssuer(() => ({ status: 503 })).fetchToken)
    expect((await rejection(down.header(['repository:a:pull']))).temporary).toBe(true)
  })
})

describe('transport auth behaviour (fake registry on loopback)', () => {
  let server: http.Server
  let base: string
  const seen: { method: string; url: string; auth?: string }[] = []
  let issued = 0
  let putRejects = 0

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, auth: req.headers.authorization })
        const url = new URL(req.url!, base)
        if (url.pathname === '/token') {
          res.writeHead(200, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ token: `fake-${++issued}`, expires_in: 300 }))
          return
        }
        const challenge = (error?: string) =>
          `Bearer realm="${base}/token",service="fake"${error ? `,error="${error}"` : ''}`
        if (!req.headers.authorization) {
          res.writeHead(401, { 'www-authenticate': challenge() }).end()
          return
        }
        if (url.pathname.startsWith('/v2/denied/')) {
          res.writeHead(401, { 'www-authenticate': challenge('insufficient_scope') }).end('{"errors":[]}')
          return
        }
        if (req.method === 'PUT' && putRejects > 0) {
          putRejects--
          res.writeHead(401, { 'www-authenticate': challenge('invalid_token') }).end()
          return
        }
        res.writeHead(req.method === 'PUT' ? 201 : 200).end()
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  })

  const transport = () =>
    new RegistryTransport({ host: new URL(base).host, credentials: async () => undefined, retries: 0 })

  it('a 401 on a replayable request refetches the token once and retries', async () => {
    const t = transport()
    putRejects = 1
    const res = await t.send({
      method: 'PUT',
      path: '/v2/app/manifests/1',
      body: Buffer.from('{}'),
      scopes: ['repository:app:pull,push'],
      what: 'manifest',
    })
    expect(res.status).toBe(201)
    await res.body.dump()
  })

  it('a 401 on a streamed upload is a temporary AUTH_FAILED (the caller restarts the blob) and drops the token', async () => {
    const t = transport()
    putRejects = 1
    const before = issued
    const err = await rejection(
      t.send({
        method: 'PUT',
        path: '/v2/app/blobs/uploads/x?digest=sha256:0',
        body: Readable.from([Buffer.from('data')]),
        scopes: ['repository:app:pull,push'],
        what: 'upload',
      }),
    )
    expect(err.code).toBe('AUTH_FAILED')
    expect(err.temporary).toBe(true)
    // the next request asks for a fresh token
    const ok = await t.send({
      method: 'HEAD',
      path: '/v2/app/blobs/sha256:0',
      scopes: ['repository:app:pull,push'],
      what: 'x',
    })
    await ok.body.dump()
    expect(issued).toBe(before + 2)
  })

  it('insufficient_scope after a fresh token is DENIED, not AUTH_FAILED', async () => {
    const t = transport()
    const err = await rejection(
      t.send({
        method: 'POST',
        path: '/v2/denied/app/blobs/uploads/',
        scopes: ['repository:denied/app:pull,push'],
        what: 'start upload',
      }),
    )
    expect(err.code).toBe('DENIED')
    expect(err.message).toContain('repository:denied/app:pull,push')
  })
})

describe('a registry whose /v2/ is open but a repository is not', () => {
  it('learns the challenge from the repository 401 and authenticates', async () => {
    const seen: (string | undefined)[] = []
    const server = http.createServer((req, res) => {
      seen.push(req.headers.authorization)
      const base = `http://${req.headers.host}`
      if (req.url === '/v2/') return void res.writeHead(200).end('{}')
      if (req.url?.startsWith('/token')) {
        res.writeHead(200, { 'content-type': 'application/json' })
        return void res.end(JSON.stringify({ token: 'late-token' }))
      }
      if (req.headers.authorization !== 'Bearer late-token') {
        return void res
          .writeHead(401, { 'www-authenticate': `Bearer realm="${base}/token",service="s"` })
          .end()
      }
      res.writeHead(200).end()
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    try {
      const host = `127.0.0.1:${(server.address() as AddressInfo).port}`
      const t = new RegistryTransport({ host, credentials: async () => undefined, retries: 0 })
      const res = await t.send({
        method: 'GET',
        path: '/v2/private/app/tags/list',
        scopes: ['repository:private/app:pull'],
        what: 'tags',
      })
      expect(res.status).toBe(200)
      await res.body.dump()
      expect(seen.at(-1)).toBe('Bearer late-token')
    } finally {
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    }
  })
})

describe('errors and addresses', () => {
  it('NAME_UNKNOWN on a push says to create the repository first', () => {
    const push = errorForStatus(
      404,
      { code: 'NAME_UNKNOWN', message: 'repository name not known' },
      'r',
      'x',
      'POST',
    )
    expect(push.code).toBe('NOT_FOUND')
    expect(push.suggestions.join(' ')).toMatch(/create the repository/)
    const pull = errorForStatus(404, { code: 'NAME_UNKNOWN' }, 'r', 'x', 'GET')
    expect(pull.message).toMatch(/repository not found/)
  })

  it('recognises internal IP literals (realm and redirect checks)', () => {
    for (const h of [
      '127.0.0.1',
      '10.2.3.4',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '[::1]',
      '[fe80::1]',
      '[fd00::1]',
    ])
      expect(isInternalIp(new URL(`http://${h}/`).hostname), h).toBe(true)
    for (const h of ['8.8.8.8', '172.32.0.1', 'example.com', '[2001:db8::1]', '[::ffff:8.8.8.8]'])
      expect(isInternalIp(new URL(`http://${h}/`).hostname), h).toBe(false)
    expect(isInternalIp(new URL('http://[::ffff:10.0.0.1]/').hostname)).toBe(true)
  })
})
