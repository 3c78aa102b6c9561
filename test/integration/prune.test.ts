// Safe prune: shown under --dry-run, bounded by --max-delete, never touching referrer tags or tags
// outside the filters, against real registries.
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runImgsync } from '../harness/cli.js'
import { getManifest, listTags, pushImage, pushManifest } from '../harness/fixtures.js'
import { type RunningRegistry, startRegistry } from '../harness/registry.js'

let src: RunningRegistry
let dst: RunningRegistry
let records: string
let sigTag: string

async function prune(extra: string[]) {
  const res = await runImgsync([
    'sync',
    'repo',
    `${src.host}/app`,
    `${dst.host}/app`,
    '--prune',
    '--records',
    records,
    '--json',
    ...extra,
  ])
  return { ...res, json: JSON.parse(res.stdout) }
}

const tags = async () => (await listTags(dst.url, 'app')).sort()

beforeAll(async () => {
  ;[src, dst] = await Promise.all([startRegistry(), startRegistry()])
  records = join(await mkdtemp(join(tmpdir(), 'imgsync-prune-')), 'records.jsonl')
  const v10 = await pushImage(src.url, 'app', '1.0')
  await pushImage(src.url, 'app', '1.1')
  const first = await runImgsync(['sync', 'repo', `${src.host}/app`, `${dst.host}/app`, '--records', records])
  expect(first.code, first.stderr).toBe(0)
  // stale tags the source no longer has, a tag sharing 1.0's digest, and a signature tag of 1.0
  await pushImage(dst.url, 'app', '0.8')
  await pushImage(dst.url, 'app', '0.9')
  await pushImage(dst.url, 'app', '1.0-old')
  const m = await getManifest(dst.url, 'app', '1.0')
  await pushManifest(dst.url, 'app', 'stable-alias', m.bytes, m.mediaType)
  sigTag = `sha256-${v10.slice('sha256:'.length)}.sig`
  const sig = await getManifest(dst.url, 'app', '1.1')
  await pushManifest(dst.url, 'app', sigTag, sig.bytes, sig.mediaType)
})

afterAll(async () => Promise.all([src?.stop(), dst?.stop()]))

describe('sync repo --prune', () => {
  it('--dry-run shows the plan and deletes nothing', async () => {
    const before = await tags()
    const res = await prune(['--dry-run'])
    expect(res.code, res.stderr).toBe(0)
    const planned = res.json.items.filter(
      (i: { status: string; source: string }) => i.status === 'planned' && i.source === '-',
    )
    expect(planned.map((i: { tag: string }) => i.tag).sort()).toEqual(['0.8', '0.9', '1.0-old'])
    const kept = res.json.items.find((i: { tag: string }) => i.tag === 'stable-alias')
    expect(kept.status).toBe('excluded')
    expect(kept.reason).toContain('shares its digest')
    expect(await tags()).toEqual(before)
  })

  it('only tags within the filters are candidates', async () => {
    const res = await prune(['--include', '^1', '--dry-run'])
    const planned = res.json.items.filter(
      (i: { status: string; source: string }) => i.status === 'planned' && i.source === '-',
    )
    expect(planned.map((i: { tag: string }) => i.tag)).toEqual(['1.0-old'])
  })

  it('more than --max-delete stops the task with PRUNE_LIMIT and deletes nothing', async () => {
    const before = await tags()
    const res = await prune(['--max-delete', '2'])
    expect(res.code).toBe(1)
    expect(res.json.task.status).toBe('failed')
    expect(res.json.task.code).toBe('PRUNE_LIMIT')
    expect(await tags()).toEqual(before)
  })

  it('deletes exactly the stale tags; the signature tag and shared-digest tags stay', async () => {
    const res = await prune([])
    expect(res.code, res.stderr).toBe(0)
    const deleted = res.json.items
      .filter((i: { status: string }) => i.status === 'deleted')
      .map((i: { tag: string }) => i.tag)
    expect(deleted.sort()).toEqual(['0.8', '0.9', '1.0-old'])
    expect(res.json.task.deleted).toBe(3)
    expect(await tags()).toEqual(['1.0', '1.1', sigTag, 'stable-alias'].sort())
    const again = await prune([])
    expect(again.json.items.filter((i: { status: string }) => i.status === 'deleted')).toEqual([])
  })
})
