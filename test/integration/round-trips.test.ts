// Round trips on a far link: what imgsync asks the registries, counted by kind at a proxy in front
// of each (CNCF distribution behind it), so a round trip that does not pay stays gone — no blob HEAD
// before a mount or into a repository the task creates, no manifest HEAD that a GET follows anyway,
// one target tag list per repository instead of a HEAD per tag, one referrers probe rather than one
// per tag — and the rule file's per-lane concurrency (and its defaults) is checked and honoured (counted
// in flight).
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runImgsync } from '../harness/cli.js'
import { MEDIA_TYPES, pushBlob, pushManifest } from '../harness/fixtures.js'
import { type FlightProxy, startFlightProxy } from '../harness/flight-proxy.js'
import { type RunningRegistry, startRegistry } from '../harness/registry.js'

const REPOS = ['rt/a', 'rt/b', 'rt/c']
const TAGS = ['1.0', '1.1', '1.2']
const ITEMS = REPOS.length * TAGS.length

let src: RunningRegistry
let dir: string
/** the layer every image starts from */
const base = randomBytes(2048)

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`

/** An OCI image of the shared base layer and one of its own. */
async function pushLayered(repo: string, tag: string): Promise<void> {
  const own = randomBytes(1024)
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', salt: randomBytes(8).toString('hex') }),
  )
  for (const blob of [config, base, own]) await pushBlob(src.url, repo, blob)
  const desc = (mediaType: string, b: Buffer) => ({ mediaType, digest: digestOf(b), size: b.length })
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: desc(MEDIA_TYPES.ociConfig, config),
    layers: [desc(MEDIA_TYPES.ociLayerGzip, base), desc(MEDIA_TYPES.ociLayerGzip, own)],
  }
  await pushManifest(src.url, repo, tag, Buffer.from(JSON.stringify(manifest)), MEDIA_TYPES.ociManifest)
}

interface TaskJson {
  tasks: { task: { synced: number; skipped: number; failed: number; items: number } }[]
}

/** A rule file from source proxy to target proxy, with extra lines under each registry entry. */
async function ruleFile(name: string, from: string, to: string, lanes: { src?: string; dst?: string } = {}) {
  const file = join(dir, `${name}.yaml`)
  const entry = (host: string, extra?: string) => `{ host: "${host}"${extra ? `, ${extra}` : ''} }`
  await writeFile(
    file,
    [
      'version: 1',
      'registries:',
      `  src: ${entry(from, lanes.src)}`,
      `  dst: ${entry(to, lanes.dst)}`,
      'rules:',
      `  - name: ${name}`,
      '    source: { registry: src, namespace: rt }',
      `    target: { registry: dst, namespace: ${name} }`,
      '',
    ].join('\n'),
  )
  return file
}

function trigger(file: string, name: string, extra: string[] = []) {
  return runImgsync(['rule', 'trigger', name, '-c', file, '--json', ...extra], {
    env: { IMGSYNC_RECORDS: join(dir, 'records.jsonl'), IMGSYNC_LOCK_DIR: join(dir, 'locks') },
  })
}

/** A fresh target registry; `fn` gets flight proxies (20 ms each way) in front of the source and it. */
async function overFarLink(fn: (from: FlightProxy, to: FlightProxy) => Promise<void>): Promise<void> {
  const dst = await startRegistry()
  const from = await startFlightProxy(src.url, { latency: 20 })
  const to = await startFlightProxy(dst.url, { latency: 20 })
  try {
    await fn(from, to)
  } finally {
    await Promise.all([from.close(), to.close()])
    await dst.stop()
  }
}

/** where the rule `mirror` puts a source repository: its namespace replaces the source's */
const target = (repo: string) => `mirror/${repo.split('/').slice(1).join('/')}`

const mounts = (p: FlightProxy) =>
  p.requests.filter((r) => r.kind === 'upload-post' && r.url.includes('mount='))

beforeAll(async () => {
  src = await startRegistry()
  dir = await mkdtemp(join(tmpdir(), 'imgsync-round-trips-'))
  for (const repo of REPOS) for (const tag of TAGS) await pushLayered(repo, tag)
})

afterAll(async () => src?.stop())

describe('round trips that do not pay are not made', () => {
  let dst: RunningRegistry
  let from: FlightProxy
  let to: FlightProxy
  let file: string
  beforeAll(async () => {
    dst = await startRegistry()
    from = await startFlightProxy(src.url, { latency: 5 })
    to = await startFlightProxy(dst.url, { latency: 5 })
    file = await ruleFile('mirror', from.host, to.host)
  })
  afterAll(async () => {
    await Promise.all([from?.close(), to?.close()])
    await dst?.stop()
  })

  it('a cold sync: no blob HEAD (a mount answers for itself, a new repository holds nothing), no manifest HEAD before a GET, one tag list per target repository', async () => {
    const run = await trigger(file, 'mirror')
    expect(run.code, run.stderr).toBe(0)
    expect((JSON.parse(run.stdout) as TaskJson).tasks[0]!.task).toMatchObject({ synced: ITEMS, failed: 0 })
    // target: nothing asked blob by blob or tag by tag; the shared base crossed once, then was mounted
    expect(to.count('blob-head')).toBe(0)
    expect(to.count('manifest-head')).toBe(0)
    for (const repo of REPOS) expect(to.count('tags', target(repo))).toBe(1)
    expect(mounts(to)).toHaveLength(REPOS.length - 1)
    expect(to.count('upload-put')).toBe(1 + 2 * ITEMS)
    expect(to.count('manifest-put')).toBe(ITEMS)
    // source: each manifest read once with a GET, no HEAD first; referrers probed once at most
    expect(from.count('manifest-head')).toBe(0)
    expect(from.count('manifest-get')).toBe(ITEMS)
    expect(from.count('referrers')).toBeLessThanOrEqual(1)
  })

  it('a no-op re-sync: one referrers lookup per repository at most, not one per tag; no target HEAD per tag', async () => {
    from.reset()
    to.reset()
    const run = await trigger(file, 'mirror')
    expect(run.code, run.stderr).toBe(0)
    expect((JSON.parse(run.stdout) as TaskJson).tasks[0]!.task).toMatchObject({ skipped: ITEMS, synced: 0 })
    expect(from.count('referrers')).toBeLessThanOrEqual(REPOS.length)
    expect(from.count('referrers')).toBeLessThan(ITEMS)
    expect(from.count('manifest-head')).toBe(ITEMS)
    expect(from.count('manifest-get')).toBe(0)
    expect(to.count('manifest-head')).toBe(0)
    expect(to.count('tags')).toBe(REPOS.length)
    expect(to.requests.filter((r) => r.kind.startsWith('blob') || r.kind.startsWith('upload'))).toEqual([])
  })

  it('into a repository that exists, a blob whose location is known is mounted without a HEAD first', async () => {
    from.reset()
    to.reset()
    // one item (no tag list, so the repository is not known to be new): rt/b:1.0 next to rt/a's tags
    const run = await runImgsync(
      ['sync', 'tag', `${from.host}/rt/b:1.0`, `${to.host}/${target('rt/a')}:from-b`, '--json'],
      { env: { IMGSYNC_RECORDS: join(dir, 'records.jsonl') } },
    )
    expect(run.code, run.stderr).toBe(0)
    // base, config and layer were all placed in the target by the earlier run: three mounts, no HEAD
    expect(mounts(to)).toHaveLength(3)
    expect(to.count('blob-head')).toBe(0)
    expect(to.count('upload-put')).toBe(0)
    expect(from.count('blob-get')).toBe(0)
  })

  it('where nothing is known of a blob in a repository that exists, the target is still asked before an upload', async () => {
    await pushLayered('rt/a', '2.0')
    from.reset()
    to.reset()
    const run = await trigger(file, 'mirror')
    expect(run.code, run.stderr).toBe(0)
    expect((JSON.parse(run.stdout) as TaskJson).tasks[0]!.task).toMatchObject({ synced: 1, skipped: ITEMS })
    // the new config and layer: asked (404), then uploaded; the base is mounted from a sibling
    expect(to.count('blob-head', target('rt/a'))).toBe(2)
    expect(to.count('upload-put', target('rt/a'))).toBe(2)
    expect(mounts(to)).toHaveLength(1)
    expect(from.count('manifest-head', 'rt/a')).toBe(TAGS.length)
    expect(from.count('manifest-get', 'rt/a')).toBe(1)
  })

  it('sync tag asks the source for referrers while the image is copied, not after its tag is pushed', async () => {
    await overFarLink(async (from, to) => {
      const run = await runImgsync(['sync', 'tag', `${from.host}/rt/c:1.2`, `${to.host}/early/c:1.2`], {
        env: { IMGSYNC_RECORDS: join(dir, 'records.jsonl') },
      })
      expect(run.code, run.stderr).toBe(0)
      const put = to.requests.find((r) => r.kind === 'manifest-put')
      // distribution has no referrers API: the probe, then the tag list (cosign's tags)
      const lookups = from.requests.filter((r) => r.kind === 'referrers' || r.kind === 'tags')
      expect(put, to.requests.map((r) => r.kind).join(' ')).toBeDefined()
      expect(lookups.map((r) => r.kind).sort()).toEqual(['referrers', 'tags'])
      for (const r of lookups) expect(r.at, r.url).toBeLessThan(put!.at)
    })
  })
})

describe('registries.NAME.concurrency: requests and blob transfers, each its own lane', () => {
  it('a bad value is CONFIG_INVALID naming the field; nothing is copied', async () => {
    const cases: [string, RegExp][] = [
      [
        'concurrency: { requests: 0 }',
        /registries\.dst\.concurrency\.requests: must be a positive whole number/,
      ],
      ['concurrency: { blobs: 257 }', /registries\.dst\.concurrency\.blobs: must be at most 256/],
      [
        'concurrency: { request: 4 }',
        /registries\.dst\.concurrency\.request: unknown key "request": did you mean "requests"\?/,
      ],
      ['concurrency: fast', /registries\.dst\.concurrency: expected a number or a mapping/],
    ]
    for (const [lanes, says] of cases) {
      const file = await ruleFile('bad', src.host, '127.0.0.1:9', { dst: lanes })
      const run = await trigger(file, 'bad')
      expect(run.code, lanes).toBe(2)
      // with --json the error is the JSON document on stdout
      const { error } = JSON.parse(run.stdout) as { error: { code: string; message: string } }
      expect(error.code, lanes).toBe('CONFIG_INVALID')
      expect(error.message, lanes).toMatch(says)
    }
  })

  it('each registry gets at most its lanes in flight (counted at its proxy), and uses them', async () => {
    await overFarLink(async (from, to) => {
      const file = await ruleFile('lanes', from.host, to.host, {
        src: 'concurrency: { requests: 3, blobs: 2 }',
        dst: 'concurrency: { requests: 2, blobs: 4 }',
      })
      const run = await trigger(file, 'lanes', ['--concurrency', '8'])
      expect(run.code, run.stderr).toBe(0)
      // many transfers wait for the two slots under one stop signal: no listener per waiter on it
      expect(run.stderr).not.toMatch(/MaxListenersExceededWarning/)
      expect((JSON.parse(run.stdout) as TaskJson).tasks[0]!.task).toMatchObject({ failed: 0, skipped: 0 })
      expect(from.maxInFlight).toEqual({ requests: 3, blobs: 2 })
      // a transfer holds a slot at both ends: the source's 2 bound the target's uploads too
      expect(to.maxInFlight.requests).toBe(2)
      expect(to.maxInFlight.blobs).toBeLessThanOrEqual(2)
    })
  })

  it('unset lanes: blob transfers follow --concurrency, requests four times that', async () => {
    await overFarLink(async (from, to) => {
      const file = await ruleFile('defaults', from.host, to.host)
      const cold = await trigger(file, 'defaults', ['--concurrency', '1'])
      expect(cold.code, cold.stderr).toBe(0)
      expect(from.maxInFlight.blobs).toBe(1)
      expect(to.maxInFlight.blobs).toBe(1)
      from.reset()
      const noop = await trigger(file, 'defaults', ['--concurrency', '1'])
      expect(noop.code, noop.stderr).toBe(0)
      expect((JSON.parse(noop.stdout) as TaskJson).tasks[0]!.task).toMatchObject({ synced: 0, failed: 0 })
      // nine tags to check, three repositories to list: four at once at the source, never more
      expect(from.maxInFlight.requests).toBe(4)
    })
  })

  it('checking tags is bounded by the requests lane, not by --concurrency (images copied at once)', async () => {
    await overFarLink(async (from, to) => {
      const file = await ruleFile('checks', from.host, to.host, { src: 'concurrency: { requests: 6 }' })
      const cold = await trigger(file, 'checks', ['--concurrency', '2'])
      expect(cold.code, cold.stderr).toBe(0)
      from.reset()
      const noop = await trigger(file, 'checks', ['--concurrency', '2'])
      expect(noop.code, noop.stderr).toBe(0)
      expect((JSON.parse(noop.stdout) as TaskJson).tasks[0]!.task).toMatchObject({ synced: 0, failed: 0 })
      // a no-op is all HEADs at the source: six at once, though only two images may be copied at once
      expect(from.maxInFlight.requests).toBe(6)
    })
  })
})
