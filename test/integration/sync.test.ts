// `imgsync sync tag` / `sync repo` against real distribution registries on loopback.
import { mkdtemp, readdir, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TaskJson } from '../../src/cli/task-runner.js'
import { runImgsync, sha256Digest, skopeoInspectRaw } from '../harness/cli.js'
import {
  FIXTURE_KINDS,
  type Fixture,
  getManifest,
  pushManifest,
  startFixtureRegistries,
} from '../harness/fixtures.js'
import {
  countBlobGets,
  countBlobMounts,
  countBlobUploads,
  countCompletedBlobUploads,
  type RunningRegistry,
  startRegistry,
} from '../harness/registry.js'

let src: RunningRegistry
let dst: RunningRegistry
let fixtures: Fixture[]
let dir: string
let records: string
const repos = () => [...new Set(fixtures.map((f) => f.repo))]

async function sync(args: string[], env: Record<string, string> = {}) {
  const res = await runImgsync([...args, '--records', records], { env })
  return res
}

async function syncJson(args: string[], env: Record<string, string> = {}) {
  const res = await sync([...args, '--json'], env)
  return { ...res, json: JSON.parse(res.stdout) as TaskJson }
}

beforeAll(async () => {
  ;({ src, dst, fixtures } = await startFixtureRegistries())
  dir = await mkdtemp(join(tmpdir(), 'imgsync-sync-'))
  records = join(dir, 'records.jsonl')
})

afterAll(async () => {
  await Promise.all([src?.stop(), dst?.stop()])
})

describe('sync repo', () => {
  it('copies every fixture kind with identical digests', async () => {
    for (const repo of repos()) {
      const res = await syncJson(['sync', 'repo', `${src.host}/${repo}`, `${dst.host}/${repo}`])
      expect(res.code, `${repo}: ${res.stderr}`).toBe(0)
      expect(res.json.task.status).toBe('succeeded')
      expect(res.json.items.every((i) => i.status === 'synced')).toBe(true)
    }
    const kinds = new Set(fixtures.map((f) => f.kind))
    for (const k of FIXTURE_KINDS) expect(kinds.has(k), k).toBe(true)
    for (const f of fixtures) {
      if (f.tag) {
        // an independent client reads the target
        const raw = await skopeoInspectRaw(`${dst.host}/${f.repo}:${f.tag}`)
        expect(sha256Digest(raw), `${f.kind} ${f.repo}:${f.tag}`).toBe(f.digest)
      } else {
        // untagged referrer: reached through the tag-schema index, present by digest
        const m = await getManifest(dst.url, f.repo, f.digest)
        expect(m.digest).toBe(f.digest)
      }
    }
  })

  it('a second run skips every item and moves no blob', async () => {
    const before = await src.requests()
    const dstBefore = await dst.requests()
    for (const repo of repos()) {
      const res = await syncJson(['sync', 'repo', `${src.host}/${repo}`, `${dst.host}/${repo}`])
      expect(res.code).toBe(0)
      expect(res.json.items.length).toBeGreaterThan(0)
      for (const item of res.json.items) {
        expect(item.status, item.source).toBe('skipped')
        expect(item.bytes).toBe(0)
      }
    }
    const after = await src.requests()
    const dstAfter = await dst.requests()
    expect(countBlobGets(after.slice(before.length))).toBe(0)
    expect(countBlobUploads(dstAfter.slice(dstBefore.length))).toBe(0)
  })

  it('keeps nested repository paths and filters tags', async () => {
    const res = await syncJson([
      'sync',
      'repo',
      `${src.host}/oci-image`,
      `${dst.host}/team-b/copies/deep/oci`,
      '--include',
      '^v',
      '--exclude',
      '^v2$',
    ])
    expect(res.code).toBe(0)
    expect(res.json.items.map((i) => i.tag)).toEqual(['v1'])
    const raw = await skopeoInspectRaw(`${dst.host}/team-b/copies/deep/oci:v1`)
    expect(sha256Digest(raw)).toBe(fixtures.find((f) => f.repo === 'oci-image' && f.tag === 'v1')!.digest)
  })

  it('sends a blob shared by two tags across once', async () => {
    const target = await startRegistry()
    try {
      const res = await syncJson([
        'sync',
        'repo',
        `${src.host}/oci-image`,
        `${target.host}/oci-image`,
        '--include',
        '^v[12]$',
        '--no-referrers',
      ])
      expect(res.code).toBe(0)
      const v1 = fixtures.find((f) => f.repo === 'oci-image' && f.tag === 'v1')!
      const v2 = fixtures.find((f) => f.repo === 'oci-image' && f.tag === 'v2')!
      const unique = new Set([...v1.blobs, ...v2.blobs])
      expect(unique.size).toBeLessThan(v1.blobs.length + v2.blobs.length)
      expect(countCompletedBlobUploads(await target.requests())).toBe(unique.size)
    } finally {
      await target.stop()
    }
  })

  it('a later run mounts blobs the target holds in another repository (persistent cache)', async () => {
    const target = await startRegistry()
    try {
      const first = await syncJson([
        'sync',
        'repo',
        `${src.host}/oci-image`,
        `${target.host}/first/copy`,
        '--no-referrers',
      ])
      expect(first.code).toBe(0)
      const before = (await target.requests()).length
      const second = await syncJson([
        'sync',
        'repo',
        `${src.host}/oci-image`,
        `${target.host}/second/copy`,
        '--no-referrers',
      ])
      expect(second.code).toBe(0)
      const entries = (await target.requests()).slice(before)
      expect(countCompletedBlobUploads(entries)).toBe(0)
      expect(countBlobMounts(entries)).toBeGreaterThan(0)
      const mounted = second.json.items.reduce(
        (n, i) => n + (i as unknown as { blobs: { mounted: number } }).blobs.mounted,
        0,
      )
      expect(mounted).toBeGreaterThan(0)
      expect(second.json.items.every((i) => i.bytes === 0)).toBe(true)
    } finally {
      await target.stop()
    }
  })

  it('exits 3 when the filters select nothing', async () => {
    const res = await sync([
      'sync',
      'repo',
      `${src.host}/oci-image`,
      `${dst.host}/none`,
      '--include',
      '^nomatch$',
    ])
    expect(res.code).toBe(3)
  })
})

describe('sync tag', () => {
  it('copies several tags in one task and by digest', async () => {
    const res = await syncJson([
      'sync',
      'tag',
      `${src.host}/oci-image`,
      `${dst.host}/multi/tags`,
      '--tags',
      'v1,v2',
    ])
    expect(res.code).toBe(0)
    expect(res.json.task.items).toBe(2)
    expect(res.json.items.map((i) => i.tag).sort()).toEqual(['v1', 'v2'])
    const idx = fixtures.find((f) => f.kind === 'oci-index')!
    const byDigest = await syncJson([
      'sync',
      'tag',
      `${src.host}/${idx.repo}@${idx.digest}`,
      `${dst.host}/bydigest:pinned`,
    ])
    expect(byDigest.code).toBe(0)
    expect(sha256Digest(await skopeoInspectRaw(`${dst.host}/bydigest:pinned`))).toBe(idx.digest)
  })

  it('override: same digest skips, different digest fails IMAGE_EXISTS untouched, --override replaces', async () => {
    const v1 = fixtures.find((f) => f.repo === 'oci-image' && f.tag === 'v1')!
    const v2 = fixtures.find((f) => f.repo === 'oci-image' && f.tag === 'v2')!
    const same = await syncJson(['sync', 'tag', `${src.host}/oci-image:v1`, `${dst.host}/ovr:x`])
    expect(same.code).toBe(0)
    const again = await syncJson(['sync', 'tag', `${src.host}/oci-image:v1`, `${dst.host}/ovr:x`])
    expect(again.code).toBe(0)
    expect(again.json.items[0]!.status).toBe('skipped')

    const clash = await syncJson(['sync', 'tag', `${src.host}/oci-image:v2`, `${dst.host}/ovr:x`])
    expect(clash.code).toBe(1)
    expect(clash.json.items[0]!.status).toBe('failed')
    expect(clash.json.items[0]!.code).toBe('IMAGE_EXISTS')
    expect(clash.json.task.status).toBe('failed')
    expect(sha256Digest(await skopeoInspectRaw(`${dst.host}/ovr:x`))).toBe(v1.digest)

    const human = await sync(['sync', 'tag', `${src.host}/oci-image:v2`, `${dst.host}/ovr:x`])
    expect(human.code).toBe(1)
    expect(human.stderr).toContain('IMAGE_EXISTS')
    expect(human.stderr).toContain('--override')

    const replaced = await syncJson([
      'sync',
      'tag',
      `${src.host}/oci-image:v2`,
      `${dst.host}/ovr:x`,
      '--override',
    ])
    expect(replaced.code).toBe(0)
    expect(replaced.json.items[0]!.status).toBe('synced')
    expect(sha256Digest(await skopeoInspectRaw(`${dst.host}/ovr:x`))).toBe(v2.digest)
  })

  it('dry run changes nothing', async () => {
    const res = await syncJson([
      'sync',
      'tag',
      `${src.host}/oci-image:v1`,
      `${dst.host}/dry/run`,
      '--dry-run',
    ])
    expect(res.code).toBe(0)
    expect(res.json.items[0]!.status).toBe('planned')
    const check = await runImgsync(
      ['sync', 'tag', `${src.host}/oci-image:v1`, `${dst.host}/dry/run`, '--dry-run', '--json'],
      {
        env: { IMGSYNC_RECORDS: records },
      },
    )
    expect(JSON.parse(check.stdout).items[0].status).toBe('planned')
  })
})

describe('remembered target tags', () => {
  const tagHeads = (log: { method: string; path: string }[], repo: string) =>
    log.filter((e) => e.method === 'HEAD' && /\/manifests\/v[12]$/.test(e.path) && e.path.includes(repo))
      .length
  const since = async (n: number) => (await dst.requests()).slice(n)

  it('a no-op re-sync lists the target repository instead of asking for each tag; --full-check asks', async () => {
    const target = `${dst.host}/remember/oci-image`
    const args = ['sync', 'repo', `${src.host}/oci-image`, target]
    expect((await syncJson(args)).json.task.synced).toBe(2)

    let n = (await dst.requests()).length
    const again = await syncJson(args)
    const rows = again.json.items.map((i) => [i.tag, i.status, (i as { reason?: string }).reason])
    expect(rows.sort()).toEqual([
      ['v1', 'skipped', 'same digest (checked earlier)'],
      ['v2', 'skipped', 'same digest (checked earlier)'],
    ])
    let log = await since(n)
    expect(tagHeads(log, 'remember/oci-image')).toBe(0)
    expect(
      log.filter((e) => e.method === 'GET' && e.path.endsWith('/remember/oci-image/tags/list')),
    ).toHaveLength(1)

    n = (await dst.requests()).length
    const full = await syncJson([...args, '--full-check'])
    expect(full.json.items.every((i) => (i as { reason?: string }).reason === 'same digest')).toBe(true)
    log = await since(n)
    expect(tagHeads(log, 'remember/oci-image')).toBe(2)
  })

  it('another writer re-pointing a listed tag is trusted within the window and found by --full-check; a deleted tag comes back', async () => {
    const v1 = fixtures.find((f) => f.repo === 'oci-image' && f.tag === 'v1')!
    const v2 = fixtures.find((f) => f.repo === 'oci-image' && f.tag === 'v2')!
    const repo = 'remember/moved'
    const args = ['sync', 'repo', `${src.host}/oci-image`, `${dst.host}/${repo}`]
    expect((await syncJson(args)).json.task.synced).toBe(2)
    // another writer points v1 at v2's image
    const m = await getManifest(dst.url, repo, v2.digest)
    await pushManifest(dst.url, repo, 'v1', m.bytes, m.mediaType)

    const trusted = await syncJson(args)
    expect(trusted.json.items.find((i) => i.tag === 'v1')!.status).toBe('skipped')
    const full = await syncJson([...args, '--full-check'])
    expect(full.code).toBe(1)
    expect(full.json.items.find((i) => i.tag === 'v1')).toMatchObject({
      status: 'failed',
      code: 'IMAGE_EXISTS',
    })
    // the full check recorded what it found: the next plain run does not forget the conflict
    const after = await syncJson(args)
    expect(after.json.items.find((i) => i.tag === 'v1')).toMatchObject({
      status: 'failed',
      code: 'IMAGE_EXISTS',
    })

    // deleting v2's manifest removes both tags: they are no longer listed, so both are copied again
    const del = await fetch(`${dst.url}/v2/${repo}/manifests/${v2.digest}`, { method: 'DELETE' })
    expect(del.status).toBe(202)
    const back = await syncJson(args)
    expect(back.code).toBe(0)
    expect(back.json.task.synced).toBe(2)
    expect(sha256Digest(await skopeoInspectRaw(`${dst.host}/${repo}:v1`))).toBe(v1.digest)
  })

  it('IMGSYNC_TAG_CACHE=off remembers nothing and writes no file', async () => {
    const own = await mkdtemp(join(tmpdir(), 'imgsync-tagcache-off-'))
    const args = ['sync', 'repo', `${src.host}/oci-image`, `${dst.host}/remember/off`, '--json']
    const opts = { env: { IMGSYNC_TAG_CACHE: 'off', IMGSYNC_RECORDS: join(own, 'records.jsonl') } }
    expect(JSON.parse((await runImgsync(args, opts)).stdout).task.synced).toBe(2)
    const again = JSON.parse((await runImgsync(args, opts)).stdout) as TaskJson
    expect(again.items.map((i) => (i as { reason?: string }).reason)).toEqual(['same digest', 'same digest'])
    expect(await readdir(own)).not.toContain('target-tags.tsv')
  })
})

describe('errors', () => {
  const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at .+\(.*:\d+:\d+\)/)

  it('a bad reference is a one-line INVALID_REFERENCE, exit 2', async () => {
    const res = await sync(['sync', 'tag', 'Bad Ref', `${dst.host}/x`])
    expect(res.code).toBe(2)
    expect(res.stderr.trim().split('\n')).toHaveLength(1)
    expect(res.stderr).toContain('INVALID_REFERENCE')
    noStack(res.stderr)
  })

  it('an unreachable host fails the item with NETWORK, exit 1', async () => {
    const res = await syncJson(['sync', 'tag', '127.0.0.1:1/app:1', `${dst.host}/x`])
    expect(res.code).toBe(1)
    expect(res.json.items[0]!.code).toBe('NETWORK')
    expect(res.json.items[0]!.message).toContain('127.0.0.1:1')
    const human = await sync(['sync', 'tag', '127.0.0.1:1/app:1', `${dst.host}/x`])
    expect(human.stderr).toContain('NETWORK')
    noStack(human.stderr)
  })

  it('a missing source tag fails with NOT_FOUND, and a missing repository fails the task', async () => {
    const res = await syncJson(['sync', 'tag', `${src.host}/oci-image:nope`, `${dst.host}/x`])
    expect(res.code).toBe(1)
    expect(res.json.items[0]!.code).toBe('NOT_FOUND')
    const repo = await sync(['sync', 'repo', `${src.host}/does/not/exist`, `${dst.host}/x`])
    expect(repo.code).toBe(1)
    expect(repo.stderr).toContain('NOT_FOUND')
    noStack(repo.stderr)
  })

  it('one bad tag fails only that item', async () => {
    const res = await syncJson([
      'sync',
      'tag',
      `${src.host}/oci-image`,
      `${dst.host}/iso`,
      '--tags',
      'v1,missing,v2',
    ])
    expect(res.code).toBe(1)
    expect(res.json.task.status).toBe('partial')
    const byTag = Object.fromEntries(res.json.items.map((i) => [i.tag, i.status]))
    expect(byTag).toEqual({ v1: 'synced', missing: 'failed', v2: 'synced' })
  })

  it('a bad --include regex is INVALID_ARGUMENT, exit 2', async () => {
    const res = await sync(['sync', 'repo', `${src.host}/oci-image`, `${dst.host}/x`, '--include', '('])
    expect(res.code).toBe(2)
    expect(res.stderr).toContain('INVALID_ARGUMENT')
    expect(res.stderr).toContain('--include')
  })
})

describe('records', () => {
  it('every run appended task and item lines that match --json', async () => {
    const res = await syncJson(['sync', 'tag', `${src.host}/docker-image:1.0`, `${dst.host}/rec/check`])
    const lines = (await readFile(records, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    const mine = lines.filter((l) => l.taskId === res.json.task.taskId)
    const tasks = mine.filter((l) => l.type === 'task')
    expect(tasks.map((t) => t.status)).toEqual(['running', 'succeeded'])
    expect(tasks[1]).toEqual(res.json.task)
    expect(mine.filter((l) => l.type === 'item')).toEqual(res.json.items)
    for (const field of ['source', 'target', 'tag', 'digest', 'status', 'bytes', 'durationMs']) {
      expect(res.json.items[0]).toHaveProperty(field)
    }
  })
})

describe('htpasswd registry', () => {
  let auth: RunningRegistry
  const user = { username: 'ci-bot', password: 'pw-for-tests-123' }
  beforeAll(async () => {
    auth = await startRegistry({ htpasswd: [user] })
  })
  afterAll(async () => auth?.stop())

  it('pushes with credentials from the environment', async () => {
    const res = await syncJson(['sync', 'tag', `${src.host}/oci-image:v1`, `${auth.host}/team/app`], {
      IMGSYNC_DST_USERNAME: user.username,
      IMGSYNC_DST_PASSWORD: user.password,
    })
    expect(res.code, res.stderr).toBe(0)
    const raw = await skopeoInspectRaw(`${auth.host}/team/app:v1`, { creds: user })
    expect(sha256Digest(raw)).toBe(fixtures.find((f) => f.repo === 'oci-image' && f.tag === 'v1')!.digest)
  })

  it('wrong or missing credentials fail with AUTH_FAILED', async () => {
    const wrong = await syncJson(['sync', 'tag', `${src.host}/oci-image:v1`, `${auth.host}/team/app2`], {
      IMGSYNC_DST_USERNAME: user.username,
      IMGSYNC_DST_PASSWORD: 'wrong',
    })
    expect(wrong.code).toBe(1)
    expect(wrong.json.items[0]!.code).toBe('AUTH_FAILED')
    const none = await syncJson(['sync', 'tag', `${src.host}/oci-image:v1`, `${auth.host}/team/app2`])
    expect(none.json.items[0]!.code).toBe('AUTH_FAILED')
    expect(wrong.stdout).not.toContain('wrong')
  })
})
