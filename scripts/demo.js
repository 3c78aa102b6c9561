#!/usr/bin/env node
// `npm run demo`: a self-contained tour on this machine. Starts two CNCF distribution registries on
// loopback ports, pushes a small sample image, writes a rule, syncs, re-syncs, and shows the records.
// Every command is printed as it can be pasted into a shell. The registries and the temporary
// directory (rule file, records, registry storage) are gone when it ends, however it ends; `--keep`
// keeps the directory.
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const BIN = fileURLToPath(new URL('../bin/run.js', import.meta.url))
const keep = process.argv.includes('--keep')
const work = mkdtempSync(join(tmpdir(), 'imgsync-demo-'))
const children = []

/** One shell word: as it is when that is safe, else in single quotes (a ' becomes '\''). */
function shellQuote(word) {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word
  return `'${word.replaceAll("'", `'\\''`)}'`
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

async function startRegistry(name) {
  const port = await freePort()
  const config = join(work, `${name}.yml`)
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log: { level: error, accesslog: { disabled: true } }',
      `storage: { filesystem: { rootdirectory: ${join(work, name)} }, delete: { enabled: true } }`,
      `http: { addr: 127.0.0.1:${port}, secret: ${randomBytes(8).toString('hex')} }`,
    ].join('\n'),
  )
  const child = spawn('docker-registry', ['serve', config], { stdio: 'ignore' })
  child.on('error', () => {
    console.error('docker-registry is not installed: sh scripts/system-deps.sh demo')
    process.exit(2)
  })
  children.push(child)
  const host = `127.0.0.1:${port}`
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`http://${host}/v2/`)).ok) return host
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`registry ${name} did not start`)
}

const digestOf = (bytes) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`

async function pushBlob(host, repo, bytes) {
  const start = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: 'POST' })
  const url = new URL(start.headers.get('location'), `http://${host}`)
  url.searchParams.set('digest', digestOf(bytes))
  const put = await fetch(url, {
    method: 'PUT',
    body: bytes,
    headers: { 'content-type': 'application/octet-stream' },
  })
  if (put.status !== 201) throw new Error(`blob upload failed: ${put.status}`)
  return { digest: digestOf(bytes), size: bytes.length }
}

/** A small two-layer OCI image; `base` is shared between tags, as real images share base layers. */
async function pushImage(host, repo, tag, base) {
  const layer = randomBytes(32 * 1024)
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
  )
  const [b, l, c] = await Promise.all([
    pushBlob(host, repo, base),
    pushBlob(host, repo, layer),
    pushBlob(host, repo, config),
  ])
  const layerType = 'application/vnd.oci.image.layer.v1.tar+gzip'
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...c },
      layers: [
        { mediaType: layerType, ...b },
        { mediaType: layerType, ...l },
      ],
    }),
  )
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    body: manifest,
    headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
  })
  if (res.status !== 201) throw new Error(`manifest push failed: ${res.status}`)
}

/** Runs imgsync (bin/run.js), printed as `imgsync ARGS` with each argument quoted for a shell. */
function imgsync(args, env = {}) {
  // once stopping, nothing new starts: stop() ends the process
  if (stopping) return new Promise(() => {})
  console.log(`\n$ imgsync ${args.map(shellQuote).join(' ')}`)
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      stdio: 'inherit',
      env: { ...process.env, ...env },
    })
    children.push(child)
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)))
  })
}

// a child whose spawn failed has no pid, and kill() on it would signal our whole process group (pid 0)
const running = (c) => c.pid !== undefined && c.exitCode === null && c.signalCode === null

/** Resolves when `child` has ended, or after `ms`. */
function ended(child, ms) {
  if (!running(child)) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

/** Last resort at exit: kills what still runs and removes the work directory (unless --keep). */
function cleanUp() {
  for (const c of children) if (running(c)) c.kill('SIGKILL')
  if (!keep) rmSync(work, { recursive: true, force: true, maxRetries: 5 })
}
process.on('exit', cleanUp)

/** Stops an imgsync still running (it records what it did), then the registries, then exits. */
let stopping = false
async function stop(signal) {
  stopping = true
  console.error(`\ndemo: ${signal}: stopping${keep ? '' : '; the work directory is removed'}`)
  const all = [...children]
  for (const c of all) if (running(c)) c.kill(c.spawnargs[0] === process.execPath ? 'SIGINT' : 'SIGTERM')
  await Promise.all(all.map((c) => ended(c, 5000)))
  process.exit(130)
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.once(signal, () => void stop(signal))

try {
  const [source, target] = await Promise.all([startRegistry('source'), startRegistry('target')])
  console.log(`source registry: http://${source}   target registry: http://${target}`)
  console.log(`work directory: ${work} (${keep ? 'kept' : 'removed at the end; --keep keeps it'})`)
  const base = randomBytes(64 * 1024)
  for (const [repo, tag] of [
    ['team-a/hello', '1.0.0'],
    ['team-a/hello', '1.1.0'],
    ['team-a/hello', '1.2.0-rc1'],
    ['team-a/tools/cli', '2.0.0'],
  ]) {
    await pushImage(source, repo, tag, base)
  }
  console.log('pushed team-a/hello:{1.0.0,1.1.0,1.2.0-rc1} and team-a/tools/cli:2.0.0 to the source')

  const env = { IMGSYNC_CONFIG: join(work, 'imgsync.yaml'), IMGSYNC_RECORDS: join(work, 'records.jsonl') }
  console.log(
    `\n$ export ${Object.entries(env)
      .map(([k, v]) => `${k}=${shellQuote(v)}`)
      .join(' ')}`,
  )
  let failed = 0
  failed += await imgsync(
    ['sync', 'repo', `${source}/team-a/hello`, `${target}/team-a/hello`, '--exclude', '-rc', '-v'],
    env,
  )
  failed += await imgsync(
    ['sync', 'repo', `${source}/team-a/hello`, `${target}/team-a/hello`, '--exclude', '-rc'],
    env,
  )
  failed += await imgsync(
    [
      'rule',
      'create',
      'team-a-releases',
      '--source-registry',
      source,
      '--source-namespace',
      'team-a',
      '--include',
      '^\\d+\\.\\d+\\.\\d+$',
      '--target-registry',
      target,
      '--target-namespace',
      'mirror/team-a',
      '--description',
      'release tags of team-a, mirrored',
    ],
    env,
  )
  failed += await imgsync(['rule', 'list'], env)
  failed += await imgsync(['rule', 'trigger', 'team-a-releases', '-v'], env)
  failed += await imgsync(['records', '--summary'], env)
  failed += await imgsync(['records', '--repo', 'team-a/hello'], env)
  if (keep) console.log(`\nrule file: ${env.IMGSYNC_CONFIG}\nrecords:   ${env.IMGSYNC_RECORDS}`)
  process.exit(failed === 0 ? 0 : 1)
} catch (err) {
  console.error(`demo failed: ${err.message}`)
  process.exit(1)
}
