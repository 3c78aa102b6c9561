// Tests for the test harness itself: if these fail, every other integration test is suspect.
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type IncomingMessage } from 'node:http'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  BIN,
  ISOLATED_VARIABLES,
  REPO_ROOT,
  runImgsync,
  runNodeScript,
  sha256Digest,
  skopeoInspectRaw,
} from '../harness/cli.js'
import {
  FIXTURE_KINDS,
  type Fixture,
  getManifest,
  headBlob,
  listTags,
  MEDIA_TYPES,
  pushBlob,
  pushFixtureSet,
  pushImage,
  pushManifest,
} from '../harness/fixtures.js'
import { findMissingBinaries, INSTALL_HINT } from '../harness/global-setup.js'
import {
  countBlobGets,
  countBlobUploads,
  countCompletedBlobUploads,
  parseAccessLog,
  type RunningRegistry,
  startRegistry,
  TEST_TLS,
} from '../harness/registry.js'
import { taskRecord } from '../support/records.js'

const USER = { username: 'alice', password: 's3cret-pw' }

function refOf(reg: RunningRegistry, f: Fixture): string {
  return f.tag ? `${reg.host}/${f.repo}:${f.tag}` : `${reg.host}/${f.repo}@${f.digest}`
}

describe('global setup', () => {
  it('names each missing binary and the apt-get fix', async () => {
    expect(findMissingBinaries()).toEqual([])
    expect(findMissingBinaries('/nonexistent')).toEqual(['docker-registry', 'htpasswd', 'skopeo'])
    const saved = process.env.PATH
    process.env.PATH = '/nonexistent'
    try {
      const { default: setup } = await import('../harness/global-setup.js')
      expect(() => setup()).toThrowError(/docker-registry, htpasswd, skopeo/)
      expect(() => setup()).toThrowError(INSTALL_HINT)
    } finally {
      process.env.PATH = saved
    }
  })
})

describe('access log parsing', () => {
  it('parses distribution 2.8 combined-format lines and ignores app log lines', () => {
    const entries = parseAccessLog(
      [
        'time="2026-11-23T15:12:53Z" level=info msg="listening on 127.0.0.1:45123" go.version=go1.19.8',
        '127.0.0.1 - - [23/Nov/2026:15:12:55 +0000] "GET /v2/ HTTP/1.1" 200 2 "" "curl/7.88.1"',
        '127.0.0.1 - - [23/Nov/2026:15:12:55 +0000] "PUT /v2/a/b/blobs/uploads/u-1?_state=x%3D&digest=sha256%3Aab HTTP/1.1" 201 0 "" "ua \\"q\\""',
        `127.0.0.1 - - [23/Nov/2026:15:12:56 +0000] "GET /v2/a/b/blobs/sha256:${'a'.repeat(64)} HTTP/1.1" 200 4096 "" "x"`,
      ].join('\n'),
    )
    expect(entries).toEqual([
      { method: 'GET', path: '/v2/', query: '', status: 200, bytes: 2, userAgent: 'curl/7.88.1' },
      {
        method: 'PUT',
        path: '/v2/a/b/blobs/uploads/u-1',
        query: '_state=x%3D&digest=sha256%3Aab',
        status: 201,
        bytes: 0,
        userAgent: 'ua "q"',
      },
      {
        method: 'GET',
        path: `/v2/a/b/blobs/sha256:${'a'.repeat(64)}`,
        query: '',
        status: 200,
        bytes: 4096,
        userAgent: 'x',
      },
    ])
    expect(countBlobGets(entries)).toBe(1)
    expect(countBlobUploads(entries)).toBe(1)
  })
})

describe('startRegistry', () => {
  it('starts 5 registries in parallel on distinct ports and stops them', async () => {
    const regs = await Promise.all(Array.from({ length: 5 }, () => startRegistry()))
    try {
      expect(new Set(regs.map((r) => r.port)).size).toBe(5)
      for (const reg of regs) {
        expect(reg.host).toBe(`127.0.0.1:${reg.port}`)
        expect(reg.url).toBe(`http://127.0.0.1:${reg.port}`)
        const res = await fetch(`${reg.url}/v2/`)
        expect(res.status).toBe(200)
        expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0')
      }
      // Data must be isolated: a blob pushed to one is unknown to the others.
      const digest = await pushBlob(regs[0].url, 'iso/test', Buffer.from('only in the first'))
      expect((await headBlob(regs[0].url, 'iso/test', digest)).exists).toBe(true)
      expect((await headBlob(regs[1].url, 'iso/test', digest)).exists).toBe(false)
    } finally {
      await Promise.all(regs.map((r) => r.stop()))
    }
    for (const reg of regs) await expect(fetch(`${reg.url}/v2/`)).rejects.toThrow()
  })

  it('counts blob uploads and downloads from the access log', async () => {
    const reg = await startRegistry()
    try {
      const blobs = [Buffer.from('one'), Buffer.from('two'), Buffer.from('three')]
      const digests: string[] = []
      for (const b of blobs) digests.push(await pushBlob(reg.url, 'count/me', b))
      for (const d of [digests[0], digests[0], digests[2]]) {
        const res = await fetch(`${reg.url}/v2/count/me/blobs/${d}`)
        expect(res.status).toBe(200)
        await res.arrayBuffer()
      }
      expect((await headBlob(reg.url, 'count/me', digests[1])).size).toBe(3)
      // A miss is not a download.
      expect((await fetch(`${reg.url}/v2/count/me/blobs/sha256:${'0'.repeat(64)}`)).status).toBe(404)

      const entries = await reg.requests()
      expect(countBlobUploads(entries)).toBe(3)
      expect(countCompletedBlobUploads(entries)).toBe(3)
      expect(countBlobGets(entries)).toBe(3)
      expect(entries.filter((e) => e.method === 'HEAD')).toHaveLength(1)
      // Readiness probes and requests() sentinels are filtered out.
      expect(entries.filter((e) => e.path === '/v2/')).toHaveLength(0)
      const first = entries.find((e) => e.method === 'GET' && e.path.endsWith(digests[0]))
      expect(first).toMatchObject({ status: 200, bytes: 3, userAgent: 'node' })
    } finally {
      await reg.stop()
    }
  })

  it('serves TLS with the test CA', async () => {
    const reg = await startRegistry({ tls: TEST_TLS })
    try {
      expect(reg.url).toBe(`https://127.0.0.1:${reg.port}`)
      const ca = await readFile(TEST_TLS.caFile)
      const status = await new Promise<number | undefined>((resolve, reject) => {
        https
          .get(`${reg.url}/v2/`, { ca }, (res) => {
            res.resume()
            resolve(res.statusCode)
          })
          .on('error', reject)
      })
      expect(status).toBe(200)
    } finally {
      await reg.stop()
    }
  })

  it('answers 401 with a Bearer challenge when configured for token auth', async () => {
    const reg = await startRegistry({
      auth: {
        token: {
          realm: 'http://127.0.0.1:1/token',
          service: 'imgsync-test',
          issuer: 'imgsync-test-issuer',
          rootCertBundle: TEST_TLS.caFile,
        },
      },
    })
    try {
      const res = await fetch(`${reg.url}/v2/`)
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe(
        'Bearer realm="http://127.0.0.1:1/token",service="imgsync-test"',
      )
    } finally {
      await reg.stop()
    }
  })

  it('sends notifications with the bearer token', async () => {
    const received: { auth?: string; actions: string[] }[] = []
    const sink = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { events: { action: string }[] }
        received.push({ auth: req.headers.authorization, actions: body.events.map((e) => e.action) })
        res.writeHead(200).end()
      })
    })
    sink.listen(0, '127.0.0.1')
    await once(sink, 'listening')
    const address = sink.address()
    if (address === null || typeof address === 'string') throw new Error('no sink address')
    const reg = await startRegistry({
      notifications: { url: `http://127.0.0.1:${address.port}/events`, token: 'tok-123' },
    })
    try {
      const config = await pushBlob(reg.url, 'notify/me', Buffer.from('{}'))
      await pushManifest(
        reg.url,
        'notify/me',
        'v1',
        Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: MEDIA_TYPES.ociManifest,
            config: { mediaType: MEDIA_TYPES.ociEmpty, digest: config, size: 2 },
            layers: [],
          }),
        ),
        MEDIA_TYPES.ociManifest,
      )
      const deadline = Date.now() + 10_000
      while (!received.some((r) => r.actions.includes('push')) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50))
      }
      expect(received.length).toBeGreaterThan(0)
      expect(received.every((r) => r.auth === 'Bearer tok-123')).toBe(true)
      expect(received.flatMap((r) => r.actions)).toContain('push')
    } finally {
      await reg.stop()
      sink.close()
    }
  })
})

describe.each([
  { name: 'open registry', auth: undefined, prefix: '' },
  { name: 'htpasswd registry', auth: USER, prefix: 'mirror/' },
])('fixture set on $name', ({ auth, prefix }) => {
  let reg: RunningRegistry
  let fixtures: Fixture[]

  beforeAll(async () => {
    reg = await startRegistry(auth ? { htpasswd: [USER, { username: 'bob', password: 'other' }] } : {})
    fixtures = await pushFixtureSet(reg.url, prefix, auth)
  })
  afterAll(async () => {
    await reg?.stop()
  })

  it('covers every fixture kind', () => {
    expect(new Set(fixtures.map((f) => f.kind))).toEqual(new Set(FIXTURE_KINDS))
    expect(fixtures.filter((f) => f.tag === undefined).map((f) => f.kind)).toEqual(['referrer'])
    const tagged = fixtures.filter((f) => f.tag).map((f) => `${f.repo}:${f.tag}`)
    expect(tagged).toEqual(
      expect.arrayContaining([
        `${prefix}oci-image:v1`,
        `${prefix}oci-image:v2`,
        `${prefix}docker-image:1.0`,
        `${prefix}multi-arch:latest`,
        `${prefix}docker-list:1`,
        `${prefix}charts/mychart:0.1.0`,
        `${prefix}artifacts/sbom:1.0`,
        `${prefix}team-a/sub/deep/svc:1.0`,
      ]),
    )
    for (const f of fixtures) expect(f.repo.startsWith(prefix)).toBe(true)
  })

  it('skopeo sees every fixture with the digest pushFixtureSet returned', async () => {
    for (const f of fixtures) {
      const raw = await skopeoInspectRaw(refOf(reg, f), { creds: auth })
      expect(sha256Digest(raw), refOf(reg, f)).toBe(f.digest)
      expect(raw.length).toBe(f.size)
      expect((JSON.parse(raw.toString('utf8')) as { mediaType: string }).mediaType).toBe(f.mediaType)
    }
  })

  it('serves each manifest with its media type through the fetch client', async () => {
    for (const f of fixtures) {
      const m = await getManifest(reg.url, f.repo, f.tag ?? f.digest, auth)
      expect(m.digest).toBe(f.digest)
      expect(m.mediaType).toBe(f.mediaType)
    }
  })

  it('has the expected structure (shared base layer, children, referrers, signature)', async () => {
    const find = (kind: string, tag?: string) => {
      const f = fixtures.find((x) => x.kind === kind && (tag === undefined || x.tag === tag))
      if (!f) throw new Error(`no ${kind} fixture`)
      return f
    }
    const v1 = find('oci-image', 'v1')
    const v2 = find('oci-image', 'v2')
    const nested = find('nested-repo')
    // blobs = [config, base layer, own layer]
    expect(v1.blobs[1]).toBe(v2.blobs[1])
    expect(nested.blobs[1]).toBe(v1.blobs[1])
    expect(v1.blobs[2]).not.toBe(v2.blobs[2])
    for (const d of v1.blobs) expect((await headBlob(reg.url, v1.repo, d, auth)).exists).toBe(true)

    for (const kind of ['oci-index', 'docker-list']) {
      const idx = find(kind)
      expect(idx.children).toHaveLength(2)
      const body = JSON.parse((await getManifest(reg.url, idx.repo, idx.tag!, auth)).bytes.toString('utf8'))
      expect(
        body.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture),
      ).toEqual(['amd64', 'arm64'])
      for (const child of idx.children!) {
        const m = await getManifest(reg.url, idx.repo, child, auth)
        expect(m.mediaType).toBe(kind === 'oci-index' ? MEDIA_TYPES.ociManifest : MEDIA_TYPES.dockerManifest)
      }
    }

    const hex = v1.digest.slice('sha256:'.length)
    const sbom = find('referrer')
    const sbomBody = JSON.parse(
      (await getManifest(reg.url, sbom.repo, sbom.digest, auth)).bytes.toString('utf8'),
    )
    expect(sbomBody.subject.digest).toBe(v1.digest)
    expect(sbomBody.artifactType).toBe('application/spdx+json')
    expect(sbomBody.config).toMatchObject({ mediaType: MEDIA_TYPES.ociEmpty, size: 2 })

    const refIdx = find('referrers-tag-index')
    expect(refIdx.tag).toBe(`sha256-${hex}`)
    const refBody = JSON.parse(
      (await getManifest(reg.url, refIdx.repo, refIdx.tag!, auth)).bytes.toString('utf8'),
    )
    expect(refBody.manifests).toEqual([
      expect.objectContaining({ digest: sbom.digest, artifactType: 'application/spdx+json' }),
    ])

    const sig = find('cosign-signature')
    expect(sig.tag).toBe(`sha256-${hex}.sig`)
    const sigBody = JSON.parse((await getManifest(reg.url, sig.repo, sig.tag!, auth)).bytes.toString('utf8'))
    expect(sigBody.layers[0].mediaType).toBe(MEDIA_TYPES.cosignSimpleSigning)

    expect((await listTags(reg.url, v1.repo, auth)).sort()).toEqual([
      `sha256-${hex}`,
      `sha256-${hex}.sig`,
      'v1',
      'v2',
    ])
    expect(await listTags(reg.url, `${prefix}does-not-exist`, auth)).toEqual([])

    const chart = find('helm-chart')
    const chartBody = JSON.parse(
      (await getManifest(reg.url, chart.repo, chart.tag!, auth)).bytes.toString('utf8'),
    )
    expect(chartBody.config.mediaType).toBe(MEDIA_TYPES.helmConfig)
    expect(chartBody.layers[0].mediaType).toBe(MEDIA_TYPES.helmChart)
  })

  it('logs the blob uploads', async () => {
    const entries = await reg.requests()
    const uniqueBlobs = new Set(fixtures.flatMap((f) => f.blobs.map((b) => `${f.repo}@${b}`)))
    expect(countCompletedBlobUploads(entries)).toBeGreaterThanOrEqual(uniqueBlobs.size)
    expect(countBlobUploads(entries)).toBe(countCompletedBlobUploads(entries))
    const manifestPuts = entries.filter((e) => e.method === 'PUT' && e.path.includes('/manifests/'))
    expect(manifestPuts.every((e) => e.status === 201)).toBe(true)
    // The fixtures' tagged manifests plus the four index children.
    expect(manifestPuts.length).toBe(fixtures.length + 4)
  })

  if (auth) {
    it('rejects anonymous and wrong-password access', async () => {
      const anon = await fetch(`${reg.url}/v2/`)
      expect(anon.status).toBe(401)
      expect(anon.headers.get('www-authenticate')).toBe('Basic realm="imgsync-test"')
      const wrong = `Basic ${Buffer.from(`${USER.username}:nope`).toString('base64')}`
      expect((await fetch(`${reg.url}/v2/`, { headers: { Authorization: wrong } })).status).toBe(401)
      const good = `Basic ${Buffer.from(`${USER.username}:${USER.password}`).toString('base64')}`
      expect((await fetch(`${reg.url}/v2/`, { headers: { Authorization: good } })).status).toBe(200)
      await expect(skopeoInspectRaw(refOf(reg, fixtures[0]))).rejects.toThrow(/skopeo inspect/)
      await expect(skopeoInspectRaw(refOf(reg, fixtures[0]), { creds: 'bob:other' })).resolves.toBeInstanceOf(
        Buffer,
      )
      await expect(getManifest(reg.url, fixtures[0].repo, fixtures[0].digest)).rejects.toThrow(/HTTP 401/)
    })
  }
})

describe('runImgsync', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'imgsync-cli-'))
    await writeFile(
      join(dir, 'echo.mjs'),
      [
        "let input = ''",
        'for await (const chunk of process.stdin) input += chunk',
        'const { NO_COLOR, FORCE_COLOR, EXTRA } = process.env',
        'console.log(JSON.stringify({ args: process.argv.slice(2), cwd: process.cwd(), input, NO_COLOR, FORCE_COLOR, EXTRA }))',
        "console.error('to stderr')",
        'process.exitCode = Number(process.argv[2] ?? 0)',
      ].join('\n'),
    )
    await writeFile(join(dir, 'hang.mjs'), 'setInterval(() => {}, 1000)\n')
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('passes args, env, cwd and stdin, and returns a non-zero exit code instead of throwing', async () => {
    const res = await runNodeScript(join(dir, 'echo.mjs'), ['3', 'x y'], {
      cwd: dir,
      env: { EXTRA: 'yes' },
      input: 'hello',
    })
    expect(res.code).toBe(3)
    expect(res.timedOut).toBe(false)
    expect(res.stderr).toBe('to stderr\n')
    expect(JSON.parse(res.stdout)).toEqual({
      args: ['3', 'x y'],
      cwd: dir,
      input: 'hello',
      NO_COLOR: '1',
      EXTRA: 'yes',
    })
  })

  it('kills a hung process after timeoutMs', async () => {
    const res = await runNodeScript(join(dir, 'hang.mjs'), [], { timeoutMs: 500 })
    expect(res.timedOut).toBe(true)
    expect(res.code).toBe(137)
    expect(res.stderr).toMatch(/killed after 500ms/)
  })

  it('points at the script package.json installs as imgsync, in the repository root', async () => {
    expect(existsSync(join(REPO_ROOT, 'package.json'))).toBe(true)
    const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      bin: Record<string, string>
    }
    expect(join(REPO_ROOT, pkg.bin.imgsync!)).toBe(BIN)
    expect(existsSync(BIN)).toBe(true)
  })
})

/** Runs fn with process.env changed as given (undefined: unset), then puts every variable back. */
async function withParentEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]))
  const set = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  }
  set(vars)
  try {
    return await fn()
  } finally {
    set(saved)
  }
}

// What a developer's machine may hold: a docker login (here a credential helper that would hand out
// the right password, and writes down every call) in $DOCKER_CONFIG and in ~/.docker, records in
// ~/.local/state/imgsync, $XDG_STATE_HOME/imgsync and $IMGSYNC_RECORDS, and IMGSYNC_* settings. The
// children of the harness must see none of it, however the parent process is set up.
describe('the isolated environment of every child', () => {
  let poison: string
  let parentEnv: Record<string, string>
  let authReg: RunningRegistry
  let openReg: RunningRegistry
  const plantedTask = 'poisoned-task-from-the-parent-environment'
  const helperCalls = () => join(poison, 'helper-calls.log')
  const plantedRecords = () => [
    join(poison, 'records.jsonl'),
    join(poison, 'state', 'imgsync', 'records.jsonl'),
    join(poison, 'home', '.local', 'state', 'imgsync', 'records.jsonl'),
  ]

  beforeAll(async () => {
    poison = await mkdtemp(join(tmpdir(), 'imgsync-poisoned-parent-'))
    ;[authReg, openReg] = await Promise.all([startRegistry({ htpasswd: [USER] }), startRegistry()])
    await pushImage(authReg.url, 'iso/app', 'v1', USER)
    await pushImage(openReg.url, 'iso/app', 'v1')
    const bin = join(poison, 'bin')
    await mkdir(bin)
    await writeFile(
      join(bin, 'docker-credential-poison'),
      `#!${process.execPath}
let input = ''
process.stdin.on('data', (d) => { input += d })
process.stdin.on('end', () => {
  require('node:fs').appendFileSync(${JSON.stringify(helperCalls())}, JSON.stringify({ cmd: process.argv[2], host: input.trim() }) + '\\n')
  process.stdout.write(JSON.stringify({ ServerURL: input.trim(), Username: ${JSON.stringify(USER.username)}, Secret: ${JSON.stringify(USER.password)} }))
})
`,
      { mode: 0o755 },
    )
    const dockerConfig = JSON.stringify({ credsStore: 'poison', credHelpers: { [authReg.host]: 'poison' } })
    for (const d of [join(poison, 'docker'), join(poison, 'home', '.docker')]) {
      await mkdir(d, { recursive: true })
      await writeFile(join(d, 'config.json'), dockerConfig)
    }
    const task = taskRecord({
      taskId: plantedTask,
      source: 'poison.example/src',
      target: 'poison.example/dst',
      startedAt: new Date().toISOString(),
      durationMs: 1,
    })
    for (const file of plantedRecords()) {
      await mkdir(join(file, '..'), { recursive: true })
      await writeFile(file, `${JSON.stringify(task)}\n`)
    }
    parentEnv = {
      HOME: join(poison, 'home'),
      XDG_STATE_HOME: join(poison, 'state'),
      XDG_CONFIG_HOME: join(poison, 'config'),
      XDG_CACHE_HOME: join(poison, 'cache'),
      XDG_DATA_HOME: join(poison, 'data'),
      DOCKER_CONFIG: join(poison, 'docker'),
      PATH: `${bin}${delimiter}${process.env.PATH ?? ''}`,
      IMGSYNC_RECORDS: join(poison, 'records.jsonl'),
      IMGSYNC_LOCK_DIR: join(poison, 'locks'),
      IMGSYNC_CONFIG: join(poison, 'imgsync.yaml'),
      IMGSYNC_SRC_USERNAME: USER.username,
      IMGSYNC_SRC_PASSWORD: USER.password,
      FORCE_COLOR: '3',
    }
    await writeFile(
      join(poison, 'env.mjs'),
      [
        "import { existsSync, readdirSync } from 'node:fs'",
        `const names = ${JSON.stringify(ISOLATED_VARIABLES)}`,
        'const dirs = Object.fromEntries(names.map((n) => [n, process.env[n]]))',
        'const imgsync = Object.keys(process.env).filter((n) => n.startsWith("IMGSYNC_")).sort()',
        'const dockerConfig = process.env.DOCKER_CONFIG',
        'const dockerEntries = dockerConfig && existsSync(dockerConfig) ? readdirSync(dockerConfig) : null',
        'const { NO_COLOR, FORCE_COLOR } = process.env',
        'console.log(JSON.stringify({ dirs, imgsync, dockerEntries, NO_COLOR, FORCE_COLOR, records: process.env.IMGSYNC_RECORDS }))',
      ].join('\n'),
    )
  })

  afterAll(async () => {
    await Promise.all([authReg?.stop(), openReg?.stop()])
    if (poison) await rm(poison, { recursive: true, force: true })
  })

  /** Files under the poisoned directory, but for what the test put there and its scratch directory. */
  async function poisonWrites(): Promise<string[]> {
    const all = (await readdir(poison, { recursive: true, withFileTypes: true }))
      .filter((e) => !e.isDirectory())
      .map((e) => join(e.parentPath, e.name))
    const planted = new Set([
      ...plantedRecords(),
      join(poison, 'env.mjs'),
      join(poison, 'bin', 'docker-credential-poison'),
      join(poison, 'docker', 'config.json'),
      join(poison, 'home', '.docker', 'config.json'),
      helperCalls(),
    ])
    return all.filter((f) => !planted.has(f) && !f.startsWith(join(poison, 'scratch', ''))).sort()
  }

  it('gives a child its own HOME, XDG directories and empty DOCKER_CONFIG, removed afterwards, and no IMGSYNC_*', async () => {
    const [a, b] = await withParentEnv(parentEnv, () =>
      Promise.all(
        [1, 2].map(async () => {
          const res = await runNodeScript(join(poison, 'env.mjs'), [], { env: { IMGSYNC_KEPT: 'yes' } })
          expect(res.code, res.stderr).toBe(0)
          return JSON.parse(res.stdout) as {
            dirs: Record<string, string | undefined>
            imgsync: string[]
            dockerEntries: string[] | null
            NO_COLOR?: string
            FORCE_COLOR?: string
          }
        }),
      ),
    )
    for (const child of [a!, b!]) {
      for (const [name, value] of Object.entries(child.dirs)) {
        expect(value, name).toEqual(expect.any(String))
        expect(value!.startsWith(poison), `${name}=${value}`).toBe(false)
        expect(value!.startsWith(tmpdir()), `${name}=${value}`).toBe(true)
        // the temporary directories are gone once the run is over
        expect(existsSync(value!), `${name}=${value}`).toBe(false)
      }
      expect(new Set(Object.values(child.dirs)).size).toBe(ISOLATED_VARIABLES.length)
      expect(child.dockerEntries).toEqual([])
      expect(child.imgsync).toEqual(['IMGSYNC_KEPT'])
      expect(child.NO_COLOR).toBe('1')
      expect(child.FORCE_COLOR).toBeUndefined()
    }
    // every child its own
    expect(a!.dirs.HOME).not.toBe(b!.dirs.HOME)
    expect(await poisonWrites()).toEqual([])
  })

  it("takes a caller's HOME, DOCKER_CONFIG and IMGSYNC_* over the isolated ones; undefined removes one", async () => {
    const home = join(poison, 'caller-home')
    const res = await withParentEnv(parentEnv, () =>
      runNodeScript(join(poison, 'env.mjs'), [], {
        env: { HOME: home, DOCKER_CONFIG: undefined, IMGSYNC_RECORDS: join(poison, 'caller.jsonl') },
      }),
    )
    expect(res.code, res.stderr).toBe(0)
    const child = JSON.parse(res.stdout) as {
      dirs: Record<string, string | undefined>
      imgsync: string[]
      records?: string
    }
    expect(child.dirs.HOME).toBe(home)
    expect(child.dirs.DOCKER_CONFIG).toBeUndefined()
    expect(child.dirs.XDG_STATE_HOME!.startsWith(poison)).toBe(false)
    expect(child.imgsync).toEqual(['IMGSYNC_RECORDS'])
    expect(child.records).toBe(join(poison, 'caller.jsonl'))
  })

  it("imgsync never consults the parent's docker config, in $DOCKER_CONFIG or in ~/.docker", async () => {
    const sync = (target: string, env?: Record<string, string | undefined>) =>
      runImgsync(
        [
          'sync',
          'tag',
          `${authReg.host}/iso/app:v1`,
          `${openReg.host}/iso/${target}:v1`,
          '--records',
          join(poison, 'scratch', `${target}.jsonl`),
          '--json',
        ],
        { env },
      )
    await withParentEnv(parentEnv, async () => {
      // through the harness as every test runs it: anonymous, so the htpasswd registry says no
      const isolated = await sync('isolated')
      expect(isolated.code, isolated.stderr).toBe(1)
      expect(`${isolated.stdout}${isolated.stderr}`).toContain('AUTH_FAILED')
      expect(existsSync(helperCalls()), 'the poisoned credential helper ran').toBe(false)

      // the poison works: handed over on purpose, either docker config gets the helper asked
      const viaDockerConfig = await sync('via-docker-config', { DOCKER_CONFIG: join(poison, 'docker') })
      expect(viaDockerConfig.code, viaDockerConfig.stderr).toBe(0)
      const viaHome = await sync('via-home', { HOME: join(poison, 'home'), DOCKER_CONFIG: undefined })
      expect(viaHome.code, viaHome.stderr).toBe(0)
    })
    const calls = (await readFile(helperCalls(), 'utf8')).trim().split('\n')
    expect(calls.map((l) => JSON.parse(l))).toEqual([
      { cmd: 'get', host: authReg.host },
      { cmd: 'get', host: authReg.host },
    ])
  })

  it("imgsync never reads or writes the parent's records: $IMGSYNC_RECORDS, $XDG_STATE_HOME, ~/.local/state", async () => {
    await withParentEnv(parentEnv, async () => {
      // a sync with no --records writes its records where the child's own environment says
      const synced = await runImgsync([
        'sync',
        'tag',
        `${openReg.host}/iso/app:v1`,
        `${openReg.host}/iso/copy:v1`,
      ])
      expect(synced.code, synced.stderr).toBe(0)
      const listed = await runImgsync(['records', '--summary', '--json'])
      expect(listed.code, listed.stderr).toBe(0)
      expect(listed.stdout).not.toContain(plantedTask)
      expect(listed.stdout).not.toContain(poison)

      // the poison works: handed over on purpose, the planted records are read
      for (const env of [
        { IMGSYNC_RECORDS: join(poison, 'records.jsonl') },
        { XDG_STATE_HOME: join(poison, 'state') },
        { HOME: join(poison, 'home'), XDG_STATE_HOME: undefined },
      ]) {
        const read = await runImgsync(['records', '--summary', '--json'], { env })
        expect(read.code, read.stderr).toBe(0)
        expect(read.stdout, JSON.stringify(env)).toContain(plantedTask)
      }
    })
    // nothing was added next to the planted files: no records, locks, caches or oclif files
    expect(await poisonWrites()).toEqual([])
    for (const file of plantedRecords())
      expect((await readFile(file, 'utf8')).trim().split('\n'), file).toHaveLength(1)
  })
})
