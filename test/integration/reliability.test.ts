// Fault injection: imgsync against real distribution registries behind a fault-injecting proxy
// (test/harness/fault-proxy.ts). Transient faults must be retried (Retry-After honoured, backoff,
// bounded attempts) and the sync must complete; permanent faults fail only the affected items with
// the right code; and after every scenario no tag of the target points at incomplete content.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TaskJson } from '../../src/cli/task-runner.js'
import { runImgsync } from '../harness/cli.js'
import {
  blobPath,
  type FaultProxy,
  type FaultProxyOptions,
  manifestPath,
  startFaultProxy,
  uploadPath,
} from '../harness/fault-proxy.js'
import { headBlob, listTags } from '../harness/fixtures.js'
import {
  checkGraph,
  describeDangling,
  pushImageWithLayers,
  type SeededImage,
} from '../harness/graph-check.js'
import { type RunningRegistry, startRegistry } from '../harness/registry.js'

const USER = { username: 'mirror-bot', password: 'pw-reliability-7' }
const LAYER = 192 * 1024

let src: RunningRegistry
let dst: RunningRegistry
let srcAuth: RunningRegistry
let dir: string
const proxies: FaultProxy[] = []
/** images by `repo:tag` */
const seeded = new Map<string, SeededImage>()

async function proxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const p = await startFaultProxy(opts)
  proxies.push(p)
  return p
}

function img(repo: string, tag: string): SeededImage {
  const i = seeded.get(`${repo}:${tag}`)
  if (!i) throw new Error(`not seeded: ${repo}:${tag}`)
  return i
}

async function seed(repo: string, tags: string[], sizes = [LAYER], reg = src, auth?: typeof USER) {
  for (const tag of tags)
    seeded.set(`${repo}:${tag}`, await pushImageWithLayers(reg.url, repo, tag, sizes, auth))
}

/** Runs a sync with --json and short retry settings; returns exit code, items by tag and the task. */
async function sync(args: string[], env: Record<string, string> = {}) {
  const res = await runImgsync([...args, '--json', '--records', join(dir, 'records.jsonl')], {
    env: { IMGSYNC_RETRIES: '2', ...env },
    timeoutMs: 60_000,
  })
  let json: TaskJson
  try {
    json = JSON.parse(res.stdout) as TaskJson
  } catch {
    throw new Error(`no JSON from imgsync (exit ${res.code}): ${res.stdout}\n${res.stderr}`)
  }
  const byTag = Object.fromEntries(
    json.items.map((i) => [i.tag, i.code ? `${i.status} ${i.code}` : i.status]),
  )
  return { ...res, json, byTag }
}

/** sync tag of the source's rel/FROM (REPO:TAG, or REPO with --tags) through the proxy `p` to dst's out/TO. */
function syncFrom(
  p: FaultProxy,
  from: string,
  to: string,
  flags: string[] = [],
  env: Record<string, string> = {},
) {
  return sync(['sync', 'tag', `${p.host}/rel/${from}`, `${dst.host}/out/${to}`, ...flags], env)
}

/**
 * The target stays consistent: every tag of `repos` reaches only content that is there. Scoped to
 * the test's own repositories: tests run concurrently, and distribution lists a tag a moment
 * before its manifest link resolves, so another test's push in flight would look dangling.
 */
async function expectConsistentTarget(repos: string[]): Promise<void> {
  const report = await checkGraph(dst.url, { repos })
  expect(report.tags).toBeGreaterThan(0)
  expect(report.dangling, describeDangling(report.dangling)).toEqual([])
}

function gaps(times: number[]): number[] {
  return times.slice(1).map((t, i) => t - (times[i] ?? t))
}

beforeAll(async () => {
  ;[src, dst, srcAuth] = await Promise.all([
    startRegistry(),
    startRegistry(),
    startRegistry({ htpasswd: [USER] }),
  ])
  dir = await mkdtemp(join(tmpdir(), 'imgsync-reliability-'))
  await Promise.all([
    seed('rel/ratelimit', ['a', 'b']),
    seed('rel/burst', ['a'], [LAYER, 4096]),
    seed('rel/throttled', ['a', 'b', 'c']),
    seed('rel/unavailable', ['a', 'b']),
    seed('rel/reset', ['a', 'b', 'c']),
    seed('rel/progress', ['a']),
    seed('rel/truncate', ['a', 'b']),
    seed('rel/corrupt', ['a', 'b', 'c', 'd']),
    seed('rel/corrupt-chunked', ['a']),
    seed('rel/stall', ['a', 'b', 'c']),
    seed('rel/token', ['a', 'b']),
    seed('rel/push', ['a', 'b', 'c']),
    seed('rel/push-fail', ['a', 'b', 'c']),
    seed('rel/chaos', ['t1', 't2', 't3', 't4', 't5', 't6'], [LAYER, 8192]),
    seed('rel/redirect', ['a'], [LAYER, 2048], srcAuth, USER),
  ])
})

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()))
  await Promise.all([src?.stop(), dst?.stop(), srcAuth?.stop()])
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe.concurrent('transient faults are retried and the sync completes', () => {
  it('429 with Retry-After: the wait is honoured, then both tags sync', async () => {
    const p = await proxy({ upstream: src.url })
    const rule = p.add({
      // the source's answer for the tag: a HEAD, or the GET by tag when the target lacks it
      method: ['HEAD', 'GET'],
      path: manifestPath('rel/ratelimit', 'a'),
      times: 2,
      fault: { kind: 'status', status: 429, headers: { 'retry-after': '1' } },
    })
    const res = await syncFrom(p, 'ratelimit', 'ratelimit', ['--tags', 'a,b'])
    expect(res.code, JSON.stringify(res.json.items, null, 1)).toBe(0)
    expect(res.byTag).toEqual({ a: 'synced', b: 'synced' })
    expect(rule.injected).toBe(2)
    expect(rule.matched).toBe(3)
    // the proxy's own clock: each retry came about one Retry-After (1 s) after the 429
    for (const gap of gaps(rule.times)) {
      expect(gap).toBeGreaterThanOrEqual(900)
      expect(gap).toBeLessThan(5000)
    }
    await expectConsistentTarget(['out/ratelimit'])
  })

  it('500/502/503 bursts on HEAD, manifest GET and blob GET: retried with growing backoff', async () => {
    const image = img('rel/burst', 'a')
    const p = await proxy({ upstream: src.url })
    const head = p.add({
      method: 'HEAD',
      path: manifestPath('rel/burst', 'a'),
      times: 1,
      fault: { kind: 'status', status: 500 },
    })
    const get = p.add({
      method: 'GET',
      path: manifestPath('rel/burst', image.digest),
      times: 2,
      fault: { kind: 'status', status: 502 },
    })
    const blob = p.add({
      method: 'GET',
      path: blobPath('rel/burst', image.layers[0]),
      times: 3,
      fault: { kind: 'status', status: 503 },
    })
    const res = await syncFrom(p, 'burst:a', 'burst', [], {
      IMGSYNC_RETRIES: '3',
    })
    expect(res.code, JSON.stringify(res.json.items, null, 1)).toBe(0)
    expect(res.byTag).toEqual({ a: 'synced' })
    expect([head.matched, get.matched, blob.matched]).toEqual([2, 3, 4])
    // backoff: 200 ms doubled per attempt with ±25% jitter, so every wait is at least ~150 ms and they grow
    const waits = gaps(blob.times)
    for (const w of waits) expect(w).toBeGreaterThanOrEqual(140)
    expect(waits[2]).toBeGreaterThan(waits[0] ?? 0)
    await expectConsistentTarget(['out/burst'])
  })

  it('a connection reset mid-blob is retried from the start of the blob', async () => {
    const image = img('rel/reset', 'a')
    const p = await proxy({ upstream: src.url })
    const rule = p.add({
      method: 'GET',
      path: blobPath('rel/reset', image.layers[0]),
      times: 1,
      fault: { kind: 'reset', afterBytes: 64 * 1024 },
    })
    const res = await syncFrom(p, 'reset:a', 'reset')
    expect(res.code, JSON.stringify(res.json.items, null, 1)).toBe(0)
    expect(res.byTag).toEqual({ a: 'synced' })
    expect([rule.injected, rule.matched]).toEqual([1, 2])
    expect((await headBlob(dst.url, 'out/reset', image.layers[0] ?? '')).exists).toBe(true)
    await expectConsistentTarget(['out/reset'])
  })

  it('a reset after every 32 KiB of one blob: each continuation made progress, so the tag syncs', async () => {
    // the attempt budget is sized for one request; progress between breaks fills it again
    const layer = img('rel/progress', 'a').layers[0]
    const p = await proxy({ upstream: src.url })
    const rule = p.add({
      method: 'GET',
      path: blobPath('rel/progress', layer),
      fault: { kind: 'reset', afterBytes: 32 * 1024 },
    })
    const res = await syncFrom(p, 'progress:a', 'reset-progress')
    expect(res.code, JSON.stringify(res.json.items, null, 1)).toBe(0)
    expect(res.byTag).toEqual({ a: 'synced' })
    // 192 KiB in 32 KiB pieces: 6 requests, each continuing where the one before broke off
    expect(rule.matched).toBe(6)
    expect(res.json.items[0]?.resumedBytes).toBe((32 + 64 + 96 + 128 + 160) * 1024)
    expect((await headBlob(dst.url, 'out/reset-progress', layer ?? '')).exists).toBe(true)
    await expectConsistentTarget(['out/reset-progress'])
  })

  it('a truncated tag list, manifest and blob are each asked for again', async () => {
    const image = img('rel/truncate', 'a')
    const p = await proxy({ upstream: src.url })
    const list = p.add({
      method: 'GET',
      path: /^\/v2\/rel\/truncate\/tags\/list/,
      times: 1,
      fault: { kind: 'truncate', afterBytes: 10 },
    })
    const blob = p.add({
      method: 'GET',
      path: blobPath('rel/truncate', image.layers[0]),
      times: 1,
      fault: { kind: 'truncate', afterBytes: 10_000 },
    })
    const manifest = p.add({
      method: 'GET',
      path: manifestPath('rel/truncate', image.digest),
      times: 1,
      fault: { kind: 'truncate', afterBytes: 100 },
    })
    const res = await sync([
      'sync',
      'repo',
      `${p.host}/rel/truncate`,
      `${dst.host}/out/truncate`,
      '--include',
      '^a$',
    ])
    expect(res.code, JSON.stringify(res.json, null, 1)).toBe(0)
    expect(res.byTag).toEqual({ a: 'synced' })
    // asked again after a first backoff (a fraction of a second; 3 s leaves room for a busy machine,
    // not for a wait of the order of a rate-limit pause); the referrer lookup lists the tags once
    // more later
    expect(list.injected).toBe(1)
    expect(list.times[1]! - list.times[0]!).toBeLessThan(3000)
    expect([blob.injected, blob.matched]).toEqual([1, 2])
    expect([manifest.injected, manifest.matched]).toEqual([1, 2])
    await expectConsistentTarget(['out/truncate'])
  })

  it('altered bytes once: DIGEST_MISMATCH is caught while streaming and the blob is fetched again', async () => {
    const image = img('rel/corrupt', 'a')
    const p = await proxy({ upstream: src.url })
    const rule = p.add({
      method: 'GET',
      path: blobPath('rel/corrupt', image.layers[0]),
      times: 1,
      fault: { kind: 'corrupt' },
    })
    const res = await syncFrom(p, 'corrupt:a', 'corrupt-once')
    expect(res.code, JSON.stringify(res.json.items, null, 1)).toBe(0)
    expect(res.byTag).toEqual({ a: 'synced' })
    expect([rule.injected, rule.matched]).toEqual([1, 2])
    await expectConsistentTarget(['out/corrupt-once'])
  })

  it('401 as if the token expired: a fresh token is fetched once and the sync completes', async () => {
    const image = img('rel/token', 'a')
    const p = await proxy({ upstream: src.url, bearer: true })
    const rule = p.add({
      method: 'GET',
      path: manifestPath('rel/token', image.digest),
      times: 1,
      fault: { kind: 'status', status: 401 },
    })
    const res = await syncFrom(p, 'token:a', 'token')
    expect(res.code, JSON.stringify(res.json.items, null, 1)).toBe(0)
    expect(res.byTag).toEqual({ a: 'synced' })
    expect([rule.injected, rule.matched]).toEqual([1, 2])
    // the token for the repository's pull scope was fetched again after the 401
    expect(p.tokensIssued).toBeGreaterThanOrEqual(2)
    await expectConsistentTarget(['out/token'])
  })

  it('a blob GET redirected to another host works, and Authorization stays with the registry', async () => {
    const image = img('rel/redirect', 'a')
    const p = await proxy({ upstream: srcAuth.url, upstreamAuth: USER })
    const rule = p.add({
      method: 'GET',
      path: blobPath('rel/redirect'),
      fault: { kind: 'redirect', status: 307 },
    })
    const res = await syncFrom(p, 'redirect:a', 'redirect', [], {
      IMGSYNC_SRC_USERNAME: USER.username,
      IMGSYNC_SRC_PASSWORD: USER.password,
    })
    expect(res.code, JSON.stringify(res.json.items, null, 1)).toBe(0)
    expect(res.byTag).toEqual({ a: 'synced' })
    const blobs = [image.config, ...image.layers]
    expect(rule.injected).toBe(blobs.length)
    const served = p.blobHost.requests.filter((r) => r.method === 'GET')
    expect(served.map((r) => r.url.split('/blobs/')[1]?.split('?')[0]).sort()).toEqual([...blobs].sort())
    for (const r of served) {
      expect(r.headers.authorization, r.url).toBeUndefined()
      expect(r.headers.cookie).toBeUndefined()
      expect(r.url).toContain('X-Signature=fault-proxy')
    }
    // ...while the registry itself did get credentials on those GETs
    const redirected = p.log.filter((e) => e.fault === rule.name)
    expect(redirected.every((e) => e.authorization)).toBe(true)
    for (const b of blobs) expect((await headBlob(dst.url, 'out/redirect', b)).exists).toBe(true)
    await expectConsistentTarget(['out/redirect'])
  })
})

describe.concurrent('permanent faults fail only the affected items', () => {
  it('429 on every attempt: RATE_LIMITED once the wait budget is spent (not attempts), the other tags sync', async () => {
    const p = await proxy({ upstream: src.url })
    const rule = p.add({
      // the source's answer for the tag: a HEAD, or the GET by tag when the target lacks it
      method: ['HEAD', 'GET'],
      path: manifestPath('rel/throttled', 'b'),
      fault: { kind: 'status', status: 429, headers: { 'retry-after': '0' } },
    })
    // Retry-After: 0 forever: the waits still grow (200, 400, 800 ms ±25%), so a 2 s budget ends it
    const res = await syncFrom(p, 'throttled', 'throttled', ['--tags', 'a,b,c'], {
      IMGSYNC_RATE_LIMIT_WAIT: '2',
    })
    expect(res.code).toBe(1)
    expect(res.json.task.status).toBe('partial')
    expect(res.byTag).toEqual({ a: 'synced', b: 'failed RATE_LIMITED', c: 'synced' })
    expect(rule.matched).toBe(4)
    expect((await listTags(dst.url, 'out/throttled')).sort()).toEqual(['a', 'c'])
    await expectConsistentTarget(['out/throttled'])
  })

  it('503 on every blob attempt: bounded by the one attempt budget, REGISTRY_ERROR', async () => {
    const p = await proxy({ upstream: src.url })
    const rule = p.add({
      method: 'GET',
      path: blobPath('rel/unavailable', img('rel/unavailable', 'b').layers[0]),
      fault: { kind: 'status', status: 503 },
    })
    const res = await syncFrom(p, 'unavailable', 'unavailable', ['--tags', 'a,b'], { IMGSYNC_RETRIES: '1' })
    expect(res.code).toBe(1)
    expect(res.byTag).toEqual({ a: 'synced', b: 'failed REGISTRY_ERROR' })
    // one attempt budget: 1 + IMGSYNC_RETRIES requests, and the blob copy around them adds none
    expect(rule.matched).toBe(2)
    expect(await listTags(dst.url, 'out/unavailable')).toEqual(['a'])
    await expectConsistentTarget(['out/unavailable'])
  })

  it('a reset before the first byte on every attempt of one blob: NETWORK for that tag, the others sync', async () => {
    // no byte arrives, so no attempt makes progress: the one attempt budget of starting over ends it
    const p = await proxy({ upstream: src.url })
    const rule = p.add({
      method: 'GET',
      path: blobPath('rel/reset', img('rel/reset', 'b').layers[0]),
      fault: { kind: 'reset', afterBytes: 0 },
    })
    const res = await syncFrom(p, 'reset', 'reset-always', ['--tags', 'b,c'])
    expect(res.code).toBe(1)
    expect(res.byTag).toEqual({ b: 'failed NETWORK', c: 'synced' })
    expect(rule.matched).toBe(3)
    expect(await listTags(dst.url, 'out/reset-always')).toEqual(['c'])
    await expectConsistentTarget(['out/reset-always'])
  })

  it('altered bytes on every attempt: DIGEST_MISMATCH, and nothing of that image reaches the target', async () => {
    const b = img('rel/corrupt', 'b')
    const c = img('rel/corrupt', 'c')
    const p = await proxy({ upstream: src.url })
    const blob = p.add({
      method: 'GET',
      path: blobPath('rel/corrupt', b.layers[0]),
      fault: { kind: 'corrupt' },
    })
    const manifest = p.add({
      method: 'GET',
      // c's manifest, read by digest after a HEAD, or by tag when the target lacks it
      path: new RegExp(
        `${manifestPath('rel/corrupt', c.digest).source}|${manifestPath('rel/corrupt', 'c').source}`,
      ),
      fault: { kind: 'corrupt', offset: 40 },
    })
    const before = (await dst.requests()).length
    const res = await syncFrom(p, 'corrupt', 'corrupt', ['--tags', 'b,c,d'])
    expect(res.code).toBe(1)
    expect(res.byTag).toEqual({ b: 'failed DIGEST_MISMATCH', c: 'failed DIGEST_MISMATCH', d: 'synced' })
    expect(blob.matched).toBe(3)
    expect(manifest.matched).toBeGreaterThanOrEqual(1)
    expect(await listTags(dst.url, 'out/corrupt')).toEqual(['d'])
    // no blob with the damaged content was committed, and no manifest of b or c was pushed
    expect((await headBlob(dst.url, 'out/corrupt', b.layers[0] ?? '')).exists).toBe(false)
    const after = (await dst.requests()).slice(before)
    const committed = after.filter(
      (e) => e.method === 'PUT' && e.status === 201 && e.path.startsWith('/v2/out/corrupt/'),
    )
    expect(committed.filter((e) => e.query.includes(encodeURIComponent(b.layers[0] ?? '')))).toEqual([])
    expect(committed.filter((e) => e.path.includes('/manifests/'))).toHaveLength(1)
    await expectConsistentTarget(['out/corrupt'])
  })

  it('altered bytes on the chunked path (a 413 for the whole layer): DIGEST_MISMATCH, no byte of it committed, no tag', async () => {
    const a = img('rel/corrupt-chunked', 'a')
    const layer = a.layers[0] ?? ''
    const s = await proxy({ upstream: src.url })
    s.add({ method: 'GET', path: blobPath('rel/corrupt-chunked', layer), fault: { kind: 'corrupt' } })
    const d = await proxy({ upstream: dst.url })
    // the layer's whole upload only (its PUT names its digest): chunks (PATCH) from then on
    const tooLarge = d.add({
      method: 'PUT',
      path: new RegExp(
        `^/v2/out/corrupt-chunked/blobs/uploads/[^?]*\\?.*digest=${encodeURIComponent(layer)}`,
      ),
      times: 1,
      fault: { kind: 'status', status: 413 },
    })
    const patches = d.add({
      method: 'PATCH',
      path: uploadPath('out/corrupt-chunked'),
      fault: { kind: 'delay', ms: 0 },
    })
    const cancels = d.add({
      method: 'DELETE',
      path: uploadPath('out/corrupt-chunked'),
      fault: { kind: 'delay', ms: 0 },
    })
    const res = await sync([
      'sync',
      'tag',
      `${s.host}/rel/corrupt-chunked`,
      `${d.host}/out/corrupt-chunked`,
      '--tags',
      'a',
    ])
    expect(res.code).toBe(1)
    expect(res.byTag).toEqual({ a: 'failed DIGEST_MISMATCH' })
    expect(tooLarge.injected).toBe(1)
    // the layer is smaller than a chunk: all of it is the last chunk, which waits for the digest check
    expect(patches.matched).toBe(0)
    expect(cancels.matched).toBeGreaterThanOrEqual(1)
    expect((await headBlob(dst.url, 'out/corrupt-chunked', layer)).exists).toBe(false)
    expect(await listTags(dst.url, 'out/corrupt-chunked')).toEqual([])
  })

  it('stalled responses end with TIMEOUT (IMGSYNC_TIMEOUT=1) instead of hanging', async () => {
    const p = await proxy({ upstream: src.url })
    const head = p.add({
      // the source's answer for the tag: a HEAD, or the GET by tag when the target lacks it
      method: ['HEAD', 'GET'],
      path: manifestPath('rel/stall', 'b'),
      fault: { kind: 'stall', ms: 60_000 },
    })
    const body = p.add({
      method: 'GET',
      path: blobPath('rel/stall', img('rel/stall', 'c').layers[0]),
      fault: { kind: 'stall', ms: 60_000, afterBytes: 0 },
    })
    const t0 = Date.now()
    const res = await syncFrom(p, 'stall', 'stall', ['--tags', 'a,b,c'], {
      IMGSYNC_TIMEOUT: '1',
      IMGSYNC_RETRIES: '1',
    })
    expect(res.timedOut).toBe(false)
    expect(Date.now() - t0).toBeLessThan(30_000)
    expect(res.code).toBe(1)
    expect(res.byTag).toEqual({ a: 'synced', b: 'failed TIMEOUT', c: 'failed TIMEOUT' })
    // headers never came: 1 + IMGSYNC_RETRIES attempts; the body went idle before its first byte:
    // no progress, so the blob started over on the one attempt budget, 1 + IMGSYNC_RETRIES requests
    expect(head.matched).toBe(2)
    expect(body.matched).toBe(2)
    expect(await listTags(dst.url, 'out/stall')).toEqual(['a'])
    await expectConsistentTarget(['out/stall'])
  })

  it('401 on every attempt: one token refresh, then AUTH_FAILED for that tag only', async () => {
    const p = await proxy({ upstream: src.url, bearer: true })
    const rule = p.add({
      // the source's answer for the tag: a HEAD, or the GET by tag when the target lacks it
      method: ['HEAD', 'GET'],
      path: manifestPath('rel/token', 'b'),
      fault: { kind: 'status', status: 401 },
    })
    const res = await syncFrom(p, 'token', 'token-denied', ['--tags', 'a,b'])
    expect(res.code).toBe(1)
    expect(res.byTag).toEqual({ a: 'synced', b: 'failed AUTH_FAILED' })
    expect(rule.matched).toBe(2)
    await expectConsistentTarget(['out/token-denied'])
  })
})

describe.concurrent('faults on the target side', () => {
  it('an upload answered 500 and an upload reset mid-body are restarted; a 429 on the tag push waits', async () => {
    const p = await proxy({ upstream: dst.url })
    const put500 = p.add({
      method: 'PUT',
      path: uploadPath('in/push-a'),
      times: 1,
      fault: { kind: 'status', status: 500 },
    })
    const putReset = p.add({
      method: 'PUT',
      path: uploadPath('in/push-b'),
      times: 1,
      fault: { kind: 'reset', during: 'request', afterBytes: 16 * 1024 },
    })
    const tagPush = p.add({
      method: 'PUT',
      path: manifestPath('in/push-c', 'c'),
      times: 1,
      fault: { kind: 'status', status: 429, headers: { 'retry-after': '1' } },
    })
    const runs = await Promise.all(
      ['a', 'b', 'c'].map((t) =>
        sync(['sync', 'tag', `${src.host}/rel/push:${t}`, `${p.host}/in/push-${t}`]),
      ),
    )
    for (const r of runs) expect(r.code, r.stderr).toBe(0)
    expect([put500.injected, putReset.injected, tagPush.injected]).toEqual([1, 1, 1])
    // the whole blob went again: a second PUT of the upload
    expect(put500.matched).toBeGreaterThanOrEqual(2)
    expect(putReset.matched).toBeGreaterThanOrEqual(2)
    expect(tagPush.matched).toBe(2)
    expect(gaps(tagPush.times)[0]).toBeGreaterThanOrEqual(900)
    for (const t of ['a', 'b', 'c']) expect(await listTags(dst.url, `in/push-${t}`)).toEqual([t])
    await expectConsistentTarget(['in/push-a', 'in/push-b', 'in/push-c'])
  })

  it('a tag push that always fails or stalls leaves no tag, and its blobs do not make the graph dangle', async () => {
    const p = await proxy({ upstream: dst.url })
    const fail = p.add({
      method: 'PUT',
      path: manifestPath('in/push-fail', 'b'),
      fault: { kind: 'status', status: 503 },
    })
    const stall = p.add({
      method: 'PUT',
      path: manifestPath('in/push-fail', 'c'),
      fault: { kind: 'stall', ms: 60_000 },
    })
    const res = await sync(
      ['sync', 'tag', `${src.host}/rel/push-fail`, `${p.host}/in/push-fail`, '--tags', 'a,b,c'],
      { IMGSYNC_TIMEOUT: '1', IMGSYNC_RETRIES: '1' },
    )
    expect(res.code).toBe(1)
    expect(res.byTag).toEqual({ a: 'synced', b: 'failed REGISTRY_ERROR', c: 'failed TIMEOUT' })
    expect(fail.matched).toBe(2)
    expect(stall.matched).toBe(2)
    expect(await listTags(dst.url, 'in/push-fail')).toEqual(['a'])
    // b's layer arrived before its tag push failed: present, harmless, and reused by a re-run
    expect((await headBlob(dst.url, 'in/push-fail', img('rel/push-fail', 'b').layers[0] ?? '')).exists).toBe(
      true,
    )
    await expectConsistentTarget(['in/push-fail'])
  })

  it('faults on both sides at once (every 3rd blob GET 503, 2nd upload reset, 4th tag push 502): all six tags sync', async () => {
    const from = await proxy({ upstream: src.url })
    const to = await proxy({ upstream: dst.url })
    const gets = from.add({
      method: 'GET',
      path: blobPath('rel/chaos'),
      nth: [3, 6, 9, 12],
      fault: { kind: 'status', status: 503 },
    })
    const resets = to.add({
      method: 'PUT',
      path: uploadPath('in/chaos'),
      nth: [2],
      fault: { kind: 'reset', during: 'request', afterBytes: 8 * 1024 },
    })
    const pushes = to.add({
      method: 'PUT',
      path: manifestPath('in/chaos'),
      nth: [4],
      fault: { kind: 'status', status: 502 },
    })
    const res = await sync([
      'sync',
      'repo',
      `${from.host}/rel/chaos`,
      `${to.host}/in/chaos`,
      '--concurrency',
      '3',
    ])
    expect(res.code, JSON.stringify(res.json.items, null, 1)).toBe(0)
    expect(res.json.task.synced).toBe(6)
    expect(gets.injected).toBe(4)
    expect(resets.injected).toBe(1)
    expect(pushes.injected).toBe(1)
    expect((await listTags(dst.url, 'in/chaos')).sort()).toEqual(['t1', 't2', 't3', 't4', 't5', 't6'])
    await expectConsistentTarget(['in/chaos'])
  })
})
