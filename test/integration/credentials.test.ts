// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the rule file syntax is literally ${VAR}
// Credentials, token auth, TLS and secret hygiene, against real distribution registries on
// loopback: one with htpasswd, one with `auth: token` backed by the test's own token issuer.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TaskJson } from '../../src/cli/task-runner.js'
import { type RunResult, runImgsync, sha256Digest, skopeoInspectRaw } from '../harness/cli.js'
import { type BasicAuth, pushImage } from '../harness/fixtures.js'
import { type RunningRegistry, startRegistry, TEST_TLS } from '../harness/registry.js'
import { ruleReadCommands, writeRuleFile } from '../harness/rule-file.js'
import { type SpyServer, startRecordingServer, startSpyProxy } from '../harness/spy-proxy.js'
import { startTokenIssuer, type TokenIssuer } from '../harness/token-issuer.js'

const execFileAsync = promisify(execFile)

const secret = (name: string) => `${name}-${randomBytes(12).toString('hex')}`
// Every value below must never appear in any output, record or rewritten file.
const HAL = { username: 'hal', password: secret('hal-pw') }
const TOM = { username: 'tom', password: secret('tom-pw') }
const ALICE = { username: 'alice', password: secret('alice-pw') }
const BOB = { username: 'bob', password: secret('bob-pw') }
const CAROL = { username: 'carol', password: secret('carol-pw') }
const REFRESH = secret('identity-token')
const WRONG = secret('wrong-pw')
const HELPER_LEAK = secret('helper-output')
const PLAIN_PW = secret('plain-pw')

let dir: string
let records: string
let emptyDockerConfig: string
let basic: RunningRegistry
let tokenReg: RunningRegistry
let issuer: TokenIssuer
/** tag → digest of what was pushed to basic:src/app */
const srcDigests = new Map<string, string>()

/** Every stdout/stderr the CLI produced in this file, checked for secrets at the end. */
const seen: { what: string; text: string }[] = []

async function cli(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  const res = await runImgsync(args, {
    env: {
      IMGSYNC_RECORDS: records,
      IMGSYNC_LOCK_DIR: join(dir, 'locks'),
      // never the developer's own docker login
      DOCKER_CONFIG: emptyDockerConfig,
      ...env,
    },
    timeoutMs: 90_000,
  })
  const what = args.join(' ')
  seen.push({ what: `${what} [stdout]`, text: res.stdout }, { what: `${what} [stderr]`, text: res.stderr })
  return res
}

/** Rule file entries of the two registries, their credentials from ${HTP_USER}/${HTP_PASS} and ${TOK_USER}/${TOK_PASS}. */
const htpEntry = () => ({
  host: basic.host,
  credentials: { username: '${HTP_USER}', password: '${HTP_PASS}' },
})
const tokEntry = () => ({
  host: tokenReg.host,
  credentials: { username: '${TOK_USER}', password: '${TOK_PASS}' },
})
/** A rule of the rule file, from `source`'s namespace (its app repository only) to `target`'s `namespace`. */
const appRule = (
  name: string,
  source: string,
  sourceNamespace: string,
  target: string,
  namespace: string,
) => ({
  name,
  source: { registry: source, namespace: sourceNamespace, repositories: ['app'] },
  target: { registry: target, namespace },
})

/** sync tag of basic's src/app:1.0 to `target` (HOST/REPO) with --json, these flags and environment. */
const syncTagFromBasic = (target: string, flags: string[] = [], env: Record<string, string> = {}) =>
  cli(['sync', 'tag', `${basic.host}/src/app:1.0`, target, ...flags, '--json'], env)

/** sync repo of basic's src/app to `target` (HOST/REPO) with --json, these flags and environment. */
const syncRepoFromBasic = (target: string, flags: string[] = [], env: Record<string, string> = {}) =>
  cli(['sync', 'repo', `${basic.host}/src/app`, target, ...flags, '--json'], env)

function parse(res: RunResult): TaskJson {
  try {
    return JSON.parse(res.stdout) as TaskJson
  } catch {
    throw new Error(`not JSON (exit ${res.code}):\n${res.stdout}\n${res.stderr}`)
  }
}

const srcEnv = (c: BasicAuth) => ({ IMGSYNC_SRC_USERNAME: c.username, IMGSYNC_SRC_PASSWORD: c.password })
const dstEnv = (c: BasicAuth) => ({ IMGSYNC_DST_USERNAME: c.username, IMGSYNC_DST_PASSWORD: c.password })
const b64 = (s: string) => Buffer.from(s).toString('base64')

/** A registry-side view through a token the issuer mints directly (independent of imgsync). */
async function tokenRegistryGet(path: string, scope: { type: string; name: string; actions: string[] }) {
  const token = issuer.mint('test-admin', [scope])
  return fetch(`${tokenReg.url}${path}`, {
    headers: { authorization: `Bearer ${token}`, accept: 'application/vnd.oci.image.manifest.v1+json' },
  })
}

async function tokenCatalog(): Promise<string[]> {
  const res = await tokenRegistryGet('/v2/_catalog?n=1000', {
    type: 'registry',
    name: 'catalog',
    actions: ['*'],
  })
  return ((await res.json()) as { repositories: string[] }).repositories
}

async function tokenDigest(repo: string, tag: string): Promise<string | undefined> {
  const res = await tokenRegistryGet(`/v2/${repo}/manifests/${tag}`, {
    type: 'repository',
    name: repo,
    actions: ['pull'],
  })
  if (res.status !== 200) return undefined
  return sha256Digest(Buffer.from(await res.arrayBuffer()))
}

async function writeDockerConfig(name: string, config: unknown): Promise<string> {
  const d = join(dir, name)
  await mkdir(d, { recursive: true })
  await writeFile(join(d, 'config.json'), JSON.stringify(config), { mode: 0o600 })
  return d
}

/** A real `docker-credential-imgsync-test` on PATH: answers `get` from creds.json, logs each call. */
async function writeCredentialHelper(creds: Record<string, { username: string; secret: string }>) {
  const d = join(dir, 'helper-bin')
  await mkdir(d, { recursive: true })
  await writeFile(join(d, 'creds.json'), JSON.stringify(creds), { mode: 0o600 })
  const script = `#!${process.execPath}
const fs = require('node:fs')
const path = require('node:path')
const cmd = process.argv[2]
let input = ''
process.stdin.on('data', (d) => { input += d })
process.stdin.on('end', () => {
  const host = input.trim()
  fs.appendFileSync(path.join(__dirname, 'calls.log'), JSON.stringify({ cmd, host }) + '\\n')
  if (cmd !== 'get') process.exit(1)
  const c = JSON.parse(fs.readFileSync(path.join(__dirname, 'creds.json'), 'utf8'))[host]
  if (!c) {
    // a chatty helper: its output must never reach imgsync's output
    process.stdout.write('credentials not found in native keychain ${HELPER_LEAK}\\n')
    process.stderr.write('debug: ${HELPER_LEAK}\\n')
    process.exit(1)
  }
  process.stdout.write(JSON.stringify({ ServerURL: host, Username: c.username, Secret: c.secret }))
})
`
  await writeFile(join(d, 'docker-credential-imgsync-test'), script, { mode: 0o755 })
  return {
    path: `${d}${delimiter}${process.env.PATH ?? ''}`,
    calls: async () =>
      (await readFile(join(d, 'calls.log'), 'utf8').catch(() => ''))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { cmd: string; host: string }),
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'imgsync-creds-'))
  records = join(dir, 'records.jsonl')
  emptyDockerConfig = join(dir, 'no-docker-config')
  await mkdir(emptyDockerConfig)
  issuer = await startTokenIssuer({
    dir,
    users: {
      tom: { password: TOM.password, access: [{ repos: '*', actions: ['pull', 'push'] }], catalog: true },
      alice: { password: ALICE.password, access: [{ repos: 'tenant-a/*', actions: ['pull', 'push'] }] },
      bob: {
        password: BOB.password,
        access: [
          { repos: 'tenant-a/*', actions: ['pull'] },
          { repos: 'tenant-b/*', actions: ['pull', 'push'] },
        ],
      },
      carol: {
        password: CAROL.password,
        access: [
          { repos: 'tenant-a/*', actions: ['pull'] },
          { repos: 'tenant-b/*', actions: ['pull'] },
        ],
      },
    },
    refreshTokens: { [REFRESH]: 'tom' },
  })
  ;[basic, tokenReg] = await Promise.all([
    startRegistry({ htpasswd: [HAL] }),
    startRegistry({
      auth: {
        token: {
          realm: issuer.realm,
          service: issuer.service,
          issuer: issuer.issuer,
          rootCertBundle: issuer.rootCertBundle,
        },
      },
    }),
  ])
  for (const tag of ['1.0', '1.1']) srcDigests.set(tag, await pushImage(basic.url, 'src/app', tag, HAL))
})

afterAll(async () => {
  await Promise.all([basic?.stop(), tokenReg?.stop(), issuer?.stop()])
  if (dir) await rm(dir, { recursive: true, force: true })
})

async function expectTokenRegistryHas(repo: string) {
  for (const [tag, digest] of srcDigests) expect(await tokenDigest(repo, tag), `${repo}:${tag}`).toBe(digest)
}

describe('credential sources', () => {
  it('environment variables: htpasswd registry → token registry', async () => {
    const res = await syncRepoFromBasic(`${tokenReg.host}/env/app`, [], {
      ...srcEnv(HAL),
      ...dstEnv(TOM),
    })
    expect(res.code, res.stderr).toBe(0)
    const json = parse(res)
    expect(json.items.map((i) => i.status)).toEqual(['synced', 'synced'])
    await expectTokenRegistryHas('env/app')
    // an independent client through the real token flow sees the same bytes
    const raw = await skopeoInspectRaw(`${tokenReg.host}/env/app:1.0`, { creds: TOM })
    expect(sha256Digest(raw)).toBe(srcDigests.get('1.0'))
    // the token issuer was asked for pull on the source side and push+pull on the target
    const scopes = issuer.requests.filter((r) => r.user === 'tom').flatMap((r) => r.scopes)
    expect(scopes).toContain('repository:env/app:pull,push')
  })

  it('rule file with ${ENV} credentials', async () => {
    const ruleFile = await writeRuleFile(join(dir, 'env-rules.yaml'), { htp: htpEntry(), tok: tokEntry() }, [
      appRule('htp-to-tok', 'htp', 'src', 'tok', 'rule-env'),
    ])
    // readable by others: ${ENV} references are no plain-text secret all the same
    await chmod(ruleFile, 0o644)
    const res = await cli(['rule', 'trigger', 'htp-to-tok', '-c', ruleFile, '--json'], {
      HTP_USER: HAL.username,
      HTP_PASS: HAL.password,
      TOK_USER: TOM.username,
      TOK_PASS: TOM.password,
    })
    expect(res.code, res.stderr).toBe(0)
    await expectTokenRegistryHas('rule-env/app')
    // ${ENV} references are not plain-text secrets: no permission warning
    expect(res.stderr).not.toMatch(/plain-text password/)
  })

  it('docker config auths (token registry as the source)', async () => {
    const cfg = await writeDockerConfig('auths', {
      auths: {
        [`http://${basic.host}`]: { auth: b64(`${HAL.username}:${HAL.password}`) },
        [tokenReg.host]: { auth: b64(`${TOM.username}:${TOM.password}`) },
      },
    })
    const res = await cli(
      ['sync', 'repo', `${tokenReg.host}/env/app`, `${basic.host}/from-token/app`, '--json'],
      { DOCKER_CONFIG: cfg },
    )
    expect(res.code, res.stderr).toBe(0)
    expect(parse(res).items.every((i) => i.status === 'synced')).toBe(true)
    const raw = await skopeoInspectRaw(`${basic.host}/from-token/app:1.1`, { creds: HAL })
    expect(sha256Digest(raw)).toBe(srcDigests.get('1.1'))
  })

  it('--authfile names a docker config file', async () => {
    const cfg = await writeDockerConfig('authfile', {
      auths: {
        [basic.host]: { auth: b64(`${HAL.username}:${HAL.password}`) },
        [tokenReg.host]: { username: TOM.username, password: TOM.password },
      },
    })
    const res = await syncTagFromBasic(`${tokenReg.host}/authfile/app`, [
      '--authfile',
      join(cfg, 'config.json'),
    ])
    expect(res.code, res.stderr).toBe(0)
    expect(await tokenDigest('authfile/app', '1.0')).toBe(srcDigests.get('1.0'))
    const missing = await syncTagFromBasic(`${tokenReg.host}/authfile/app`, [
      '--authfile',
      join(dir, 'nope.json'),
    ])
    expect(missing.code).not.toBe(0)
    expect(missing.stdout).toMatch(/nope\.json/)
  })

  it('docker config credHelpers with a real docker-credential helper on PATH', async () => {
    const helper = await writeCredentialHelper({
      [basic.host]: { username: HAL.username, secret: HAL.password },
      [tokenReg.host]: { username: TOM.username, secret: TOM.password },
    })
    const cfg = await writeDockerConfig('helpers', {
      auths: { [basic.host]: {} },
      credHelpers: { [basic.host]: 'imgsync-test', [tokenReg.host]: 'imgsync-test' },
    })
    const res = await cli(
      ['sync', 'tag', `${basic.host}/src/app`, `${tokenReg.host}/helper/app`, '--tags', '1.0,1.1', '--json'],
      { DOCKER_CONFIG: cfg, PATH: helper.path },
    )
    expect(res.code, res.stderr).toBe(0)
    await expectTokenRegistryHas('helper/app')
    const calls = await helper.calls()
    expect(calls).toContainEqual({ cmd: 'get', host: basic.host })
    expect(calls).toContainEqual({ cmd: 'get', host: tokenReg.host })
    // resolved once per host, not per request
    expect(calls.length).toBe(2)
  })

  it('docker config credsStore; a helper without credentials means anonymous', async () => {
    const helper = await writeCredentialHelper({
      [basic.host]: { username: HAL.username, secret: HAL.password },
    })
    const cfg = await writeDockerConfig('store', { credsStore: 'imgsync-test' })
    const ok = await syncTagFromBasic(`${tokenReg.host}/store/app`, [], {
      DOCKER_CONFIG: cfg,
      PATH: helper.path,
      ...dstEnv(TOM),
    })
    expect(ok.code, ok.stderr).toBe(0)
    // the token registry has no stored credentials: the helper says "not found", imgsync goes anonymous
    const anon = await syncTagFromBasic(`${tokenReg.host}/store/app2`, [], {
      DOCKER_CONFIG: cfg,
      PATH: helper.path,
    })
    expect(anon.code).toBe(1)
    const item = parse(anon).items[0]!
    expect(item.code).toBe('AUTH_FAILED')
    expect(item.message).toMatch(/anonymous/)
  })

  it('a credential helper that is not installed fails with AUTH_FAILED naming it', async () => {
    const cfg = await writeDockerConfig('no-helper', { credHelpers: { [basic.host]: 'not-installed' } })
    const res = await syncTagFromBasic(`${tokenReg.host}/x/app`, [], {
      DOCKER_CONFIG: cfg,
      ...dstEnv(TOM),
    })
    expect(res.code).toBe(1)
    const json = parse(res)
    const code = json.task.code ?? json.items[0]?.code
    const message = json.task.message ?? json.items[0]?.message
    expect(code).toBe('AUTH_FAILED')
    expect(message).toMatch(/docker-credential-not-installed/)
  })

  it('identity token from the docker config: OAuth2 POST (refresh_token grant)', async () => {
    const cfg = await writeDockerConfig('identity', {
      auths: {
        [basic.host]: { auth: b64(`${HAL.username}:${HAL.password}`) },
        [tokenReg.host]: { identitytoken: REFRESH },
      },
    })
    const before = issuer.requests.length
    const res = await syncRepoFromBasic(`${tokenReg.host}/identity/app`, [], {
      DOCKER_CONFIG: cfg,
    })
    expect(res.code, res.stderr).toBe(0)
    await expectTokenRegistryHas('identity/app')
    const used = issuer.requests.slice(before)
    expect(used.some((r) => r.method === 'POST' && r.grantType === 'refresh_token' && r.status === 200)).toBe(
      true,
    )
    expect(used.some((r) => r.method === 'GET')).toBe(false)
  })

  it('identity token from a helper (<token>), with GET fallback when the issuer has no OAuth2', async () => {
    const helper = await writeCredentialHelper({
      [basic.host]: { username: HAL.username, secret: HAL.password },
      [tokenReg.host]: { username: '<token>', secret: REFRESH },
    })
    const cfg = await writeDockerConfig('identity-helper', {
      credHelpers: { [basic.host]: 'imgsync-test', [tokenReg.host]: 'imgsync-test' },
    })
    issuer.setOAuth(false)
    try {
      const before = issuer.requests.length
      const res = await cli(
        ['sync', 'tag', `${basic.host}/src/app:1.1`, `${tokenReg.host}/identity-get/app`, '--json'],
        { DOCKER_CONFIG: cfg, PATH: helper.path },
      )
      expect(res.code, res.stderr).toBe(0)
      expect(await tokenDigest('identity-get/app', '1.1')).toBe(srcDigests.get('1.1'))
      const used = issuer.requests.slice(before)
      expect(used.some((r) => r.method === 'POST' && r.status === 404)).toBe(true)
      expect(used.some((r) => r.method === 'GET' && r.identityViaBasic && r.status === 200)).toBe(true)
    } finally {
      issuer.setOAuth(true)
    }
  })

  it('--src-creds-file / --dst-creds-file: user:password and JSON', async () => {
    const srcFile = join(dir, 'src-creds')
    const dstFile = join(dir, 'dst-creds.json')
    await writeFile(srcFile, `${HAL.username}:${HAL.password}\n`, { mode: 0o600 })
    await writeFile(dstFile, JSON.stringify(TOM), { mode: 0o644 })
    const res = await syncTagFromBasic(`${tokenReg.host}/creds-file/app`, [
      '--src-creds-file',
      srcFile,
      '--dst-creds-file',
      dstFile,
    ])
    expect(res.code, res.stderr).toBe(0)
    expect(await tokenDigest('creds-file/app', '1.0')).toBe(srcDigests.get('1.0'))
    // the JSON file is readable by others: a warning, once
    expect(res.stderr).toMatch(/dst-creds\.json holds credentials and is readable by group\/others/)
    expect(res.stderr).not.toMatch(/src-creds holds/)
  })

  it('explicit credentials win over the docker config', async () => {
    const cfg = await writeDockerConfig('wrong-auths', {
      auths: { [tokenReg.host]: { auth: b64(`${TOM.username}:${WRONG}`) } },
    })
    const res = await syncTagFromBasic(`${tokenReg.host}/explicit/app`, [], {
      DOCKER_CONFIG: cfg,
      ...srcEnv(HAL),
      ...dstEnv(TOM),
    })
    expect(res.code, res.stderr).toBe(0)
  })
})

describe('authentication errors', () => {
  it('a wrong password is AUTH_FAILED, on htpasswd and on token registries', async () => {
    const basicWrong = await syncRepoFromBasic(`${tokenReg.host}/wrong/app`, [], {
      IMGSYNC_SRC_USERNAME: HAL.username,
      IMGSYNC_SRC_PASSWORD: WRONG,
      ...dstEnv(TOM),
    })
    expect(basicWrong.code).toBe(1)
    expect(parse(basicWrong).task.code).toBe('AUTH_FAILED')
    const tokenWrong = await syncTagFromBasic(`${tokenReg.host}/wrong/app`, [], {
      ...srcEnv(HAL),
      IMGSYNC_DST_USERNAME: TOM.username,
      IMGSYNC_DST_PASSWORD: WRONG,
    })
    expect(tokenWrong.code).toBe(1)
    const item = parse(tokenWrong).items[0]!
    expect(item.code).toBe('AUTH_FAILED')
    expect(item.message).toMatch(/rejected the credentials/)
  })

  it('no credentials for an htpasswd registry says how to give them', async () => {
    const res = await syncTagFromBasic(`${tokenReg.host}/anon/app`)
    expect(res.code).toBe(1)
    const json = parse(res)
    expect(json.items[0]?.code).toBe('AUTH_FAILED')
    expect(json.items[0]?.message).toMatch(/username and password/)
  })
})

describe('token expiry during a run', () => {
  const tags = ['e1', 'e2', 'e3', 'e4']
  const expiryDigests = new Map<string, string>()
  let slowSource: SpyServer

  beforeAll(async () => {
    for (const t of tags) expiryDigests.set(t, await pushImage(basic.url, 'expiry/app', t, HAL))
    // every blob download from the source takes 700 ms: a run of 8 blobs outlives a 2 s token
    slowSource = await startSpyProxy(basic.url, {
      delayResponse: (req) => (req.method === 'GET' && /\/blobs\/sha256:/.test(req.url ?? '') ? 700 : 0),
    })
  })
  afterAll(async () => {
    issuer.setLifetime(300)
    await slowSource?.stop()
  })
  /**
   * The slow source's expiry/app to `host`'s expiry/REPO, one transfer at a time; every tag must
   * arrive. Returns how long the run took (ms).
   */
  async function syncExpiry(host: string, repo: string): Promise<number> {
    const t0 = Date.now()
    const res = await cli(
      [
        'sync',
        'repo',
        `${slowSource.host}/expiry/app`,
        `${host}/expiry/${repo}`,
        '--concurrency',
        '1',
        '--json',
      ],
      { ...srcEnv(HAL), ...dstEnv(TOM) },
    )
    const ms = Date.now() - t0
    expect(res.code, res.stderr).toBe(0)
    for (const [t, d] of expiryDigests) expect(await tokenDigest(`expiry/${repo}`, t)).toBe(d)
    return ms
  }

  it('refreshes short-lived tokens before they expire (expires_in honoured)', async () => {
    issuer.setLifetime(2)
    const before = issuer.requests.length
    expect(await syncExpiry(tokenReg.host, 'honest')).toBeGreaterThan(4000)
    const pushTokens = issuer.requests
      .slice(before)
      .filter((r) => r.scopes.includes('repository:expiry/honest:pull,push'))
    expect(pushTokens.length).toBeGreaterThanOrEqual(2)
  })

  it('recovers when the registry rejects a token early, even for a streamed blob upload', async () => {
    // the issuer claims 300 s but the registry stops accepting each token after 2 s (clock skew)
    issuer.setLifetime(2, 300)
    let delayed = 0
    // hold the answer to the first upload POST until its token has expired: the blob PUT that
    // follows carries a stale token and a body that cannot be replayed
    const target = await startSpyProxy(tokenReg.url, {
      delayResponse: (req) =>
        req.method === 'POST' && /\/blobs\/uploads\/$/.test(req.url ?? '') && delayed++ === 0 ? 2600 : 0,
    })
    try {
      const logBefore = (await tokenReg.requests()).length
      await syncExpiry(target.host, 'skewed')
      const log = (await tokenReg.requests()).slice(logBefore)
      // the registry did turn stale tokens away, including on a blob upload PUT
      expect(
        log.some((e) => e.status === 401 && e.method === 'PUT' && /\/blobs\/uploads\//.test(e.path)),
      ).toBe(true)
      expect(log.some((e) => e.status === 401 && e.path !== '/v2/')).toBe(true)
    } finally {
      issuer.setLifetime(300)
      await target.stop()
    }
  })
})

describe('TLS', () => {
  let tls: RunningRegistry
  beforeAll(async () => {
    tls = await startRegistry({ tls: TEST_TLS })
  })
  afterAll(async () => tls?.stop())

  it('fails with TLS by default (unknown CA), naming the host and the fix', async () => {
    const res = await syncTagFromBasic(`${tls.host}/tls/app`, [], srcEnv(HAL))
    expect(res.code).toBe(1)
    const item = parse(res).items[0]!
    expect(item.code).toBe('TLS')
    expect(item.message).toContain(tls.host)
    expect(item.message).toMatch(/--dst-ca|tls\.ca/)
  })

  it('works with the CA file', async () => {
    const res = await syncTagFromBasic(`${tls.host}/tls/app`, ['--dst-ca', TEST_TLS.caFile], srcEnv(HAL))
    expect(res.code, res.stderr).toBe(0)
    expect(res.stderr).not.toMatch(/verification is OFF/)
    expect(sha256Digest(await skopeoInspectRaw(`${tls.host}/tls/app:1.0`))).toBe(srcDigests.get('1.0'))
  })

  it('works with insecure, and warns once', async () => {
    const res = await syncRepoFromBasic(`${tls.host}/tls/insecure`, ['--dst-insecure'], srcEnv(HAL))
    expect(res.code, res.stderr).toBe(0)
    expect(res.stderr.match(/TLS certificate verification is OFF for 127\.0\.0\.1/g)?.length).toBe(1)
  })

  it('rule file tls.ca (relative to the rule file) and a TLS source', async () => {
    const ruleDir = join(dir, 'tls-rules')
    await mkdir(ruleDir, { recursive: true })
    await writeFile(join(ruleDir, 'ca.pem'), await readFile(TEST_TLS.caFile))
    const ruleFile = await writeRuleFile(
      join(ruleDir, 'imgsync.yaml'),
      { secure: { host: tls.host, tls: { ca: './ca.pem' } }, tok: tokEntry() },
      [appRule('from-tls', 'secure', 'tls', 'tok', 'from-tls')],
    )
    const res = await cli(['rule', 'trigger', 'from-tls', '-c', ruleFile, '--json'], {
      TOK_USER: TOM.username,
      TOK_PASS: TOM.password,
    })
    expect(res.code, res.stderr).toBe(0)
    expect(await tokenDigest('from-tls/app', '1.0')).toBe(srcDigests.get('1.0'))
  })
})

describe('mutual TLS', () => {
  it('presents the client certificate from the rule file; without it the handshake fails with TLS', async () => {
    // a client certificate signed by the test CA, made now (never written next to the fixtures)
    const key = join(dir, 'client-key.pem')
    const csr = join(dir, 'client.csr')
    const cert = join(dir, 'client.pem')
    await execFileAsync('openssl', [
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      csr,
      '-subj',
      '/CN=imgsync test client',
    ])
    await execFileAsync('openssl', [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      TEST_TLS.caFile,
      '-CAkey',
      TEST_TLS.caKeyFile,
      '-set_serial',
      '7',
      '-days',
      '2',
      '-out',
      cert,
    ])
    const open = await startRegistry()
    // TLS in front of the registry that demands a client certificate signed by the test CA
    const mtls = await startSpyProxy(open.url, {
      tls: {
        key: await readFile(TEST_TLS.keyFile),
        cert: await readFile(TEST_TLS.certFile),
        ca: await readFile(TEST_TLS.caFile),
        requestCert: true,
      },
    })
    const ruleFile = (file: string, tls: Record<string, string>) =>
      writeRuleFile(join(dir, file), { htp: htpEntry(), mtls: { host: mtls.host, tls } }, [
        appRule('to-mtls', 'htp', 'src', 'mtls', 'mtls'),
      ])
    const env = { HTP_USER: HAL.username, HTP_PASS: HAL.password }
    try {
      const withCert = await ruleFile('mtls.yaml', { ca: TEST_TLS.caFile, cert, key })
      const ok = await cli(['rule', 'trigger', 'to-mtls', '-c', withCert, '--json'], env)
      expect(ok.code, ok.stderr + ok.stdout).toBe(0)
      expect(sha256Digest(await skopeoInspectRaw(`${open.host}/mtls/app:1.1`))).toBe(srcDigests.get('1.1'))
      expect(mtls.requests.length).toBeGreaterThan(0)
      const withoutCert = await ruleFile('mtls-nocert.yaml', { ca: TEST_TLS.caFile })
      // the refusal (a closed connection) is tried again like any; no retries: the same TLS
      // verdict at once instead of after 5 backoffs per item
      const refused = await cli(['rule', 'trigger', 'to-mtls', '-c', withoutCert, '--json'], {
        ...env,
        IMGSYNC_RETRIES: '0',
      })
      expect(refused.code).toBe(1)
      const items = (JSON.parse(refused.stdout) as { tasks: TaskJson[] }).tasks[0]!.items
      expect(items.map((i) => i.code)).toEqual(['TLS', 'TLS'])
    } finally {
      await Promise.all([mtls.stop(), open.stop()])
    }
  })
})

describe('cross-tenant on one token registry', () => {
  beforeAll(async () => {
    const res = await syncRepoFromBasic(`${tokenReg.host}/tenant-a/app`, [], {
      ...srcEnv(HAL),
      ...dstEnv(ALICE),
    })
    expect(res.code, res.stderr).toBe(0)
  })

  it('two accounts: pull with one, push with the other', async () => {
    const res = await cli(
      ['sync', 'repo', `${tokenReg.host}/tenant-a/app`, `${tokenReg.host}/tenant-b/app`, '--json'],
      { ...srcEnv(ALICE), ...dstEnv(BOB) },
    )
    expect(res.code, res.stderr).toBe(0)
    await expectTokenRegistryHas('tenant-b/app')
  })

  it('pull-only on the target: DENIED per item, nothing written', async () => {
    const logBefore = (await tokenReg.requests()).length
    const res = await cli(
      ['sync', 'repo', `${tokenReg.host}/tenant-a/app`, `${tokenReg.host}/tenant-b/denied`, '--json'],
      { ...srcEnv(ALICE), ...dstEnv(CAROL) },
    )
    expect(res.code).toBe(1)
    const json = parse(res)
    expect(json.items).toHaveLength(2)
    for (const item of json.items) {
      expect(item.status, item.tag).toBe('failed')
      expect(item.code, item.message).toBe('DENIED')
    }
    expect(await tokenCatalog()).not.toContain('tenant-b/denied')
    const writes = (await tokenReg.requests())
      .slice(logBefore)
      .filter((e) => e.path.startsWith('/v2/tenant-b/denied/') && e.method !== 'HEAD' && e.method !== 'GET')
    expect(writes.every((e) => e.status === 401)).toBe(true)
  })
})

describe('redirects', () => {
  it('never sends Authorization to another host', async () => {
    const basicAuth = `Basic ${b64(`${HAL.username}:${HAL.password}`)}`
    // "blob storage" on another port: serves the blob it is redirected for, recording the headers
    const storage = await startRecordingServer((req, res) => {
      const m = /^\/blob\/(.+)\/(sha256:[a-f0-9]{64})$/.exec(req.url ?? '')
      if (!m) {
        res.writeHead(404).end()
        return
      }
      fetch(`${basic.url}/v2/${m[1]}/blobs/${m[2]}`, { headers: { authorization: basicAuth } })
        .then(async (up) => {
          const body = Buffer.from(await up.arrayBuffer())
          res.writeHead(up.status, {
            'content-type': 'application/octet-stream',
            'content-length': body.length,
          })
          res.end(req.method === 'HEAD' ? undefined : body)
        })
        .catch(() => res.destroy())
    })
    // the registry (through a proxy) answers every blob GET with a redirect to the storage host
    const registry = await startSpyProxy(basic.url, {
      intercept: (req, res) => {
        const m = /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/.exec(req.url ?? '')
        if (req.method !== 'GET' || !m) return false
        res.writeHead(307, { location: `${storage.url}/blob/${m[1]}/${m[2]}` }).end()
        return true
      },
    })
    const dst = await startRegistry()
    try {
      const res = await cli(
        [
          'sync',
          'tag',
          `${registry.host}/src/app:1.0`,
          `${dst.host}/redirected/app`,
          '--json',
          '--log-level',
          'debug',
        ],
        srcEnv(HAL),
      )
      expect(res.code, res.stderr).toBe(0)
      expect(sha256Digest(await skopeoInspectRaw(`${dst.host}/redirected/app:1.0`))).toBe(
        srcDigests.get('1.0'),
      )
      // the blobs came from the storage host ...
      expect(storage.requests.length).toBeGreaterThanOrEqual(2)
      // ... which never saw the credentials, though the registry host got them on the same requests
      for (const r of storage.requests) {
        expect(r.headers.authorization, r.url).toBeUndefined()
        expect(JSON.stringify(r.headers)).not.toContain(b64(`${HAL.username}:${HAL.password}`))
      }
      const blobGets = registry.requests.filter((r) => r.method === 'GET' && /\/blobs\/sha256:/.test(r.url))
      expect(blobGets.length).toBeGreaterThanOrEqual(2)
      for (const r of blobGets) expect(r.headers.authorization).toBe(basicAuth)
    } finally {
      await Promise.all([storage.stop(), registry.stop(), dst.stop()])
    }
  })
})

describe('a target that needs its repository created first', () => {
  it('NAME_UNKNOWN on push becomes NOT_FOUND saying to create the repository', async () => {
    const open = await startRegistry()
    // like ECR or a Harbor project that does not exist: no create-on-push
    const strict = await startSpyProxy(open.url, {
      intercept: (req, res) => {
        if (req.method === 'GET' || req.method === 'HEAD') return false
        if (!(req.url ?? '').startsWith('/v2/missing/')) return false
        res.writeHead(404, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry' }],
          }),
        )
        return true
      },
    })
    try {
      const res = await syncTagFromBasic(`${strict.host}/missing/app`, [], srcEnv(HAL))
      expect(res.code).toBe(1)
      const item = parse(res).items[0]!
      expect(item.code).toBe('NOT_FOUND')
      expect(item.message).toMatch(/does not exist/)
      expect(item.message).toMatch(/create the repository/)
    } finally {
      await Promise.all([strict.stop(), open.stop()])
    }
  })
})

describe('no secret in any output, record or file', () => {
  let ruleFile: string
  const ruleEnv = () => ({
    HTP_USER: HAL.username,
    HTP_PASS: HAL.password,
    TOK_USER: TOM.username,
    TOK_PASS: TOM.password,
  })

  beforeAll(async () => {
    ruleFile = join(dir, 'leak.yaml')
    await writeFile(
      ruleFile,
      [
        '# registries for the leak test',
        'version: 1',
        'registries:',
        '  htp:',
        `    host: ${basic.host}`,
        '    credentials: { username: "${HTP_USER}", password: "${HTP_PASS}" }',
        '  tok:',
        `    host: ${tokenReg.host}`,
        '    credentials: { username: "${TOK_USER}", password: "${TOK_PASS}" }',
        'rules: []',
        '',
      ].join('\n'),
    )
  })

  it('rule create / list / show / trigger / records, with --json and debug logging', async () => {
    const env = ruleEnv()
    const create = await cli(
      [
        'rule',
        'create',
        'leak',
        '-c',
        ruleFile,
        '--source-registry',
        'htp',
        '--source-namespace',
        'src',
        '--repo-list',
        'app',
        '--target-registry',
        'tok',
        '--target-namespace',
        'leak',
        '--json',
      ],
      env,
    )
    expect(create.code, create.stderr).toBe(0)
    // and without the variables set: edits keep ${VAR} text
    expect((await cli(['rule', 'disable', 'leak', '-c', ruleFile])).code).toBe(0)
    expect((await cli(['rule', 'enable', 'leak', '-c', ruleFile, '--json'])).code).toBe(0)
    const text = await readFile(ruleFile, 'utf8')
    expect(text).toContain('password: "${HTP_PASS}"')
    expect(text).toContain('# registries for the leak test')
    for (const args of ruleReadCommands(ruleFile, 'leak')) {
      const res = await cli(args, env)
      expect(res.code, `${args.join(' ')}: ${res.stderr}`).toBe(0)
    }
    const trigger = await cli(
      ['rule', 'trigger', 'leak', '-c', ruleFile, '--json', '--log-level', 'debug'],
      env,
    )
    expect(trigger.code, trigger.stderr).toBe(0)
    // debug logging did log requests (so the check below means something)
    expect(trigger.stderr).toMatch(/GET http:\/\/127\.0\.0\.1/)
    const humanTrigger = await cli(
      ['rule', 'trigger', 'leak', '-c', ruleFile, '--log-level', 'debug', '-v'],
      env,
    )
    expect(humanTrigger.code, humanTrigger.stderr).toBe(0)
    // failures: a wrong password from the environment, on both registries
    const failing = await cli(['rule', 'trigger', 'leak', '-c', ruleFile, '--json', '--log-level', 'debug'], {
      ...env,
      HTP_PASS: WRONG,
    })
    expect(failing.code).toBe(1)
    const failingTok = await cli(['rule', 'trigger', 'leak', '-c', ruleFile, '--log-level', 'debug'], {
      ...env,
      TOK_PASS: WRONG,
    })
    expect(failingTok.code).toBe(1)
    for (const args of [['records'], ['records', '--json'], ['records', '--status', 'failed', '--json']]) {
      const res = await cli(args)
      expect(res.code, `${args.join(' ')}: ${res.stderr}`).toBe(0)
    }
  })

  it('sync tag / repo with debug logging, successes and failures', async () => {
    const helper = await writeCredentialHelper({ [tokenReg.host]: { username: '<token>', secret: REFRESH } })
    const cfg = await writeDockerConfig('leak-helper', {
      credHelpers: { [basic.host]: 'imgsync-test', [tokenReg.host]: 'imgsync-test' },
    })
    // source: the helper has nothing and prints a secret-looking line; target: identity token
    const anonSource = await syncTagFromBasic(`${tokenReg.host}/leak2/app`, ['--log-level', 'debug'], {
      DOCKER_CONFIG: cfg,
      PATH: helper.path,
    })
    expect(anonSource.code).toBe(1)
    const ok = await cli(
      ['sync', 'repo', `${basic.host}/src/app`, `${tokenReg.host}/leak2/app`, '--log-level', 'debug'],
      { DOCKER_CONFIG: cfg, PATH: helper.path, ...srcEnv(HAL) },
    )
    expect(ok.code, ok.stderr).toBe(0)
    const wrong = await cli(
      ['sync', 'tag', `${basic.host}/src/app:1.0`, `${tokenReg.host}/leak2/app`, '--log-level', 'debug'],
      { IMGSYNC_SRC_USERNAME: HAL.username, IMGSYNC_SRC_PASSWORD: WRONG, ...dstEnv(TOM) },
    )
    expect(wrong.code).toBe(1)
    const wrongJson = await syncRepoFromBasic(`${tokenReg.host}/leak2/app`, ['--log-level', 'debug'], {
      ...srcEnv(HAL),
      IMGSYNC_DST_USERNAME: TOM.username,
      IMGSYNC_DST_PASSWORD: WRONG,
    })
    expect(wrongJson.code).toBe(1)
  })

  it('warns about a plain-text password in a rule file others can read, and never prints it', async () => {
    const plain = await writeRuleFile(
      join(dir, 'plain.yaml'),
      {
        htp: { host: basic.host, credentials: { username: 'hal', password: PLAIN_PW } },
        dst: { host: tokenReg.host, credentials: { username: 'tom', password: '${TOK_PASS}' } },
      },
      [appRule('plain', 'htp', 'src', 'dst', 'plain')],
    )
    await chmod(plain, 0o644)
    const res = await cli(['rule', 'trigger', 'plain', '-c', plain, '--json'], { TOK_PASS: TOM.password })
    // the password is wrong for the registry, which is fine: the point is the warning and no echo
    expect(res.stderr).toMatch(/holds a plain-text password \(registries: htp/)
    expect(res.stderr).toMatch(/chmod 600/)
    await chmod(plain, 0o600)
    const quiet = await cli(['rule', 'trigger', 'plain', '-c', plain, '--json'], { TOK_PASS: TOM.password })
    expect(quiet.stderr).not.toMatch(/plain-text password/)
    for (const args of [
      ['rule', 'show', 'plain', '-c', plain, '--json'],
      ['rule', 'list', '-c', plain],
    ]) {
      await cli(args)
    }
  })

  it('finds none of the secrets anywhere', async () => {
    const secrets = [
      HAL.password,
      TOM.password,
      ALICE.password,
      BOB.password,
      CAROL.password,
      REFRESH,
      WRONG,
      HELPER_LEAK,
      PLAIN_PW,
      b64(`${HAL.username}:${HAL.password}`),
      b64(`${TOM.username}:${TOM.password}`),
      ...issuer.issued,
    ]
    const files = [
      { what: 'records', text: await readFile(records, 'utf8') },
      { what: 'leak.yaml', text: await readFile(join(dir, 'leak.yaml'), 'utf8') },
    ]
    expect(seen.length).toBeGreaterThan(50)
    expect(issuer.issued.length).toBeGreaterThan(10)
    for (const { what, text } of [...seen, ...files]) {
      for (const s of secrets) {
        if (text.includes(s)) throw new Error(`a secret (${s.slice(0, 12)}…) leaked into ${what}`)
      }
      // a token shape that was not in the list (e.g. a JWT) must not show either
      expect(text, what).not.toMatch(/eyJ[A-Za-z0-9_-]{20,}\.eyJ/)
    }
  })
})
