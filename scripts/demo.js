#!/usr/bin/env node
// `npm run demo`: a self-contained tour on this machine. Starts two CNCF distribution registries on
// loopback ports, pushes a small sample image, writes a rule, syncs, re-syncs, and shows the records.
import { spawn, spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const BIN = fileURLToPath(new URL('../bin/run.js', import.meta.url))
const work = mkdtempSync(join(tmpdir(), 'imgsync-demo-'))
const children = []

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
    console.error('docker-registry is not installed: apt-get install -y docker-registry')
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

function imgsync(args, env = {}) {
  console.log(`\n$ imgsync ${args.join(' ')}`)
  const res = spawnSync(process.execPath, [BIN, ...args], {
    stdio: 'inherit',
    env: { ...process.env, ...env },
  })
  return res.status
}

function stopAll() {
  for (const c of children) c.kill('SIGTERM')
}
process.on('exit', stopAll)

try {
  const [source, target] = await Promise.all([startRegistry('source'), startRegistry('target')])
  console.log(`source registry: http://${source}   target registry: http://${target}   work dir: ${work}`)
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
  let failed = 0
  failed += imgsync(
    ['sync', 'repo', `${source}/team-a/hello`, `${target}/team-a/hello`, '--exclude', '-rc', '-v'],
    env,
  )
  failed += imgsync(
    ['sync', 'repo', `${source}/team-a/hello`, `${target}/team-a/hello`, '--exclude', '-rc'],
    env,
  )
  failed += imgsync(
    [
      'rule',
      'create',
      'team-a-releases',
      '--source-registry',
      source,
      '--source-namespace',
      'team-a',
      '--tags',
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
  failed += imgsync(['rule', 'list'], env)
  failed += imgsync(['rule', 'trigger', 'team-a-releases', '-v'], env)
  failed += imgsync(['records', '--summary'], env)
  failed += imgsync(['records', '--repo', 'team-a/hello'], env)
  console.log(`\nrule file: ${env.IMGSYNC_CONFIG}\nrecords:   ${env.IMGSYNC_RECORDS}`)
  stopAll()
  process.exit(failed === 0 ? 0 : 1)
} catch (err) {
  console.error(`demo failed: ${err.message}`)
  stopAll()
  process.exit(1)
}
