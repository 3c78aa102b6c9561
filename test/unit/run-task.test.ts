import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ImgsyncError } from '../../src/errors.js'
import { RecordWriter } from '../../src/records/store.js'
import type { ItemRecord, SyncRecord, TaskRecord } from '../../src/records/types.js'
import type { ItemPlan } from '../../src/sync/plan.js'
import { newTaskId, runTask, type TaskSpec } from '../../src/sync/run-task.js'
import { MemoryRegistry, type SeededImage } from '../support/memory-registry.js'

let dir: string
let writer: RecordWriter

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'imgsync-run-task-'))
  writer = new RecordWriter(join(dir, 'records.jsonl'))
})

afterEach(() => {
  writer.close()
  rmSync(dir, { recursive: true, force: true })
})

function lines(): SyncRecord[] {
  return readFileSync(writer.path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as SyncRecord)
}

function world() {
  const src = new MemoryRegistry('src.example')
  const dst = new MemoryRegistry('dst.example')
  const imgs: Record<string, SeededImage> = {
    '1.0': src.seedImage('app', '1.0', { layers: [randomBytes(120), randomBytes(80)] }),
    '2.0': src.seedImage('app', '2.0', { layers: [randomBytes(60)] }),
  }
  const item = (tag: string): ItemPlan => ({
    src,
    srcRepo: 'app',
    srcRef: tag,
    dst,
    dstRepo: 'mirror/app',
    dstTag: tag,
    source: `src.example/app:${tag}`,
    target: `dst.example/mirror/app:${tag}`,
    tag,
  })
  return { src, dst, imgs, item }
}

function spec(plan: TaskSpec['plan'], over: Partial<TaskSpec> = {}): TaskSpec {
  return {
    trigger: 'manual',
    source: 'src.example/app',
    target: 'dst.example/mirror/app',
    override: false,
    dryRun: false,
    concurrency: 2,
    plan,
    records: writer,
    ...over,
  }
}

const bytesOf = (img: SeededImage) => img.blobs.reduce((n, b) => n + b.size, 0)

describe('runTask', () => {
  it('one missing source tag: that item fails NOT_FOUND, the others sync, the task is partial', async () => {
    const { dst, imgs, item } = world()
    const events: string[] = []
    const result = await runTask(
      spec(
        async () => ({ items: [item('1.0'), item('missing'), item('2.0')], excluded: [], repositories: 1 }),
        {
          rule: 'nightly',
          listener: {
            taskStarted: (t) => events.push(`started ${t.status}`),
            planned: (p) => events.push(`planned ${p.items.length}`),
            itemDone: (i) => events.push(`item ${i.tag} ${i.status}`),
            taskDone: (t) => events.push(`done ${t.status}`),
          },
        },
      ),
    )
    const byTag = Object.fromEntries(result.items.map((i) => [i.tag, i]))
    expect(byTag.missing).toMatchObject({ status: 'failed', code: 'NOT_FOUND', bytes: 0 })
    expect(byTag.missing!.message).toMatch(/app:missing/)
    expect(byTag['1.0']).toMatchObject({ status: 'synced', digest: imgs['1.0']!.digest, kind: 'image' })
    expect(byTag['1.0']!.blobs).toEqual({ copied: 3, mounted: 0, skipped: 0 })
    expect(byTag['2.0']).toMatchObject({ status: 'synced', digest: imgs['2.0']!.digest })
    expect(dst.tags('mirror/app')).toEqual(['1.0', '2.0'])

    expect(result.task).toMatchObject({
      type: 'task',
      status: 'partial',
      rule: 'nightly',
      trigger: 'manual',
      repositories: 1,
      items: 3,
      synced: 2,
      skipped: 0,
      failed: 1,
      successRate: 0.6667,
      bytes: bytesOf(imgs['1.0']!) + bytesOf(imgs['2.0']!),
      dryRun: false,
    })
    expect(result.task.code).toBeUndefined()
    expect(result.task.taskId).toMatch(/^t-\d{8}-\d{6}-[0-9a-f]{6}$/)

    writer.close()
    const recs = lines()
    expect(recs).toHaveLength(5)
    const first = recs[0] as TaskRecord
    const last = recs.at(-1) as TaskRecord
    expect(first).toMatchObject({
      type: 'task',
      status: 'running',
      items: 0,
      synced: 0,
      taskId: result.task.taskId,
    })
    expect(last).toMatchObject({
      type: 'task',
      status: 'partial',
      synced: 2,
      failed: 1,
      items: 3,
      successRate: 0.6667,
      taskId: result.task.taskId,
    })
    const itemLines = recs.slice(1, -1) as ItemRecord[]
    expect(
      itemLines.every((r) => r.type === 'item' && r.taskId === result.task.taskId && r.rule === 'nightly'),
    ).toBe(true)
    expect(itemLines.map((r) => `${r.tag} ${r.status}`).sort()).toEqual([
      '1.0 synced',
      '2.0 synced',
      'missing failed',
    ])
    expect(itemLines.find((r) => r.tag === 'missing')?.code).toBe('NOT_FOUND')

    expect(events[0]).toBe('started running')
    expect(events[1]).toBe('planned 3')
    expect(events.at(-1)).toBe('done partial')
    expect(events.filter((e) => e.startsWith('item '))).toHaveLength(3)
  })

  it('all items synced or skipped → succeeded with successRate 1', async () => {
    const { item } = world()
    const plan = async () => ({ items: [item('1.0'), item('2.0')], excluded: [], repositories: 1 })
    const first = await runTask(spec(plan))
    expect(first.task).toMatchObject({ status: 'succeeded', synced: 2, successRate: 1 })
    const second = await runTask(spec(plan))
    expect(second.task).toMatchObject({
      status: 'succeeded',
      synced: 0,
      skipped: 2,
      successRate: 1,
      bytes: 0,
    })
    expect(second.items.every((i) => i.status === 'skipped' && i.reason === 'same digest')).toBe(true)
    expect(second.task.taskId).not.toBe(first.task.taskId)
  })

  it('every item failed → failed', async () => {
    const { item } = world()
    const result = await runTask(
      spec(async () => ({ items: [item('x'), item('y')], excluded: [], repositories: 1 })),
    )
    expect(result.task).toMatchObject({ status: 'failed', failed: 2, successRate: 0 })
  })

  it('a dry run plans every item and writes nothing at the target', async () => {
    const { dst, item } = world()
    const result = await runTask(
      spec(async () => ({ items: [item('1.0'), item('2.0')], excluded: [], repositories: 1 }), {
        dryRun: true,
      }),
    )
    expect(result.items.map((i) => i.status)).toEqual(['planned', 'planned'])
    expect(result.task).toMatchObject({ dryRun: true, synced: 0, failed: 0 })
    expect(dst.writes()).toEqual([])
  })

  it('a plan() that throws fails the task with that code and records start and end', async () => {
    const result = await runTask(
      spec(async () => {
        throw new ImgsyncError('CATALOG_UNAVAILABLE', 'no catalog here', {
          suggestions: ['list the repositories'],
        })
      }),
    )
    expect(result.task).toMatchObject({
      status: 'failed',
      code: 'CATALOG_UNAVAILABLE',
      items: 0,
      // nothing ran, and the task failed: no 100%
      successRate: 0,
    })
    expect(result.task.message).toContain('no catalog here')
    expect(result.task.message).toContain('list the repositories')
    expect(result.items).toEqual([])
    writer.close()
    const recs = lines()
    expect(recs.map((r) => (r as TaskRecord).status)).toEqual(['running', 'failed'])
    expect((recs[1] as TaskRecord).code).toBe('CATALOG_UNAVAILABLE')
  })

  it('records a repository that could not be listed as a failed item and goes on', async () => {
    const { item } = world()
    const result = await runTask(
      spec(async () => ({
        items: [item('1.0')],
        excluded: [{ source: 'src.example/app:old', tag: 'old', reason: 'filtered' }],
        failures: [
          {
            source: 'src.example/gone',
            target: 'dst.example/mirror/gone',
            repository: 'gone',
            tag: '*',
            error: new ImgsyncError('DENIED', 'cannot list gone'),
          },
        ],
        repositories: 2,
      })),
    )
    expect(result.task).toMatchObject({ status: 'partial', items: 2, synced: 1, failed: 1, successRate: 0.5 })
    expect(result.items.find((i) => i.repository === 'gone')).toMatchObject({
      tag: '*',
      status: 'failed',
      code: 'DENIED',
    })
    expect(result.excluded).toEqual([{ source: 'src.example/app:old', tag: 'old', reason: 'filtered' }])
  })

  it('an already aborted signal: every item interrupted, the task interrupted', async () => {
    const { dst, item } = world()
    const ac = new AbortController()
    ac.abort()
    const result = await runTask(
      spec(async () => ({ items: [item('1.0'), item('2.0')], excluded: [], repositories: 1 }), {
        signal: ac.signal,
      }),
    )
    expect(result.items.map((i) => [i.status, i.code])).toEqual([
      ['interrupted', 'INTERRUPTED'],
      ['interrupted', 'INTERRUPTED'],
    ])
    expect(result.task).toMatchObject({ status: 'interrupted', code: 'INTERRUPTED', synced: 0, failed: 0 })
    expect(dst.writes()).toEqual([])
    writer.close()
    expect((lines().at(-1) as TaskRecord).status).toBe('interrupted')
  })

  it('aborting mid-run: finished items keep their status, the rest are interrupted', async () => {
    const { src, item } = world()
    src.seedImage('app', '3.0', { layers: [randomBytes(10)] })
    const ac = new AbortController()
    const result = await runTask(
      spec(async () => ({ items: [item('1.0'), item('2.0'), item('3.0')], excluded: [], repositories: 1 }), {
        concurrency: 1,
        signal: ac.signal,
        listener: { itemDone: () => ac.abort() },
      }),
    )
    expect(result.items.map((i) => `${i.tag} ${i.status}`)).toEqual([
      '1.0 synced',
      '2.0 interrupted',
      '3.0 interrupted',
    ])
    expect(result.task).toMatchObject({ status: 'interrupted', synced: 1, failed: 0, successRate: 1 })
  })

  it('a stop that comes after the only item ended interrupts nothing: the task succeeded', async () => {
    const { item } = world()
    const ac = new AbortController()
    const result = await runTask(
      spec(async () => ({ items: [item('1.0')], excluded: [], repositories: 1 }), {
        signal: ac.signal,
        // the signal arrives as the last item is recorded: nothing is left to cut off
        listener: { itemDone: () => ac.abort() },
      }),
    )
    expect(result.task).toMatchObject({ status: 'succeeded', synced: 1, successRate: 1 })
    expect(result.task.code).toBeUndefined()
    expect(result.task.message).toBe('a stop signal came, but every item had finished')
  })

  it('a stop while planning leaves the task interrupted, and nothing done is no 100% success rate', async () => {
    const ac = new AbortController()
    const result = await runTask(
      spec(
        async () => {
          ac.abort()
          throw new ImgsyncError('NETWORK', 'listing cut off')
        },
        { signal: ac.signal },
      ),
    )
    expect(result.task).toMatchObject({
      status: 'interrupted',
      code: 'INTERRUPTED',
      items: 0,
      successRate: 0,
    })
  })

  it('reports streamed bytes to the listener', async () => {
    const { imgs, item } = world()
    let bytes = 0
    await runTask(
      spec(async () => ({ items: [item('1.0')], excluded: [], repositories: 1 }), {
        listener: { bytes: (n) => (bytes += n) },
      }),
    )
    expect(bytes).toBe(bytesOf(imgs['1.0']!))
  })
})

describe('runTask: no barrier between listing and copying', () => {
  it('items a planner feeds start copying while it still lists; each is copied and recorded once', async () => {
    const { dst, imgs, item } = world()
    const first = item('1.0')
    const second = item('2.0')
    let syncedWhileListing: string | undefined
    const result = await runTask(
      spec(async (feed) => {
        feed?.({ items: [first] })
        // the planner is still "listing" the next repository: the fed item finishes meanwhile
        for (let i = 0; i < 100 && !dst.tagDigest('mirror/app', '1.0'); i++)
          await new Promise((r) => setTimeout(r, 5))
        syncedWhileListing = dst.tagDigest('mirror/app', '1.0')
        feed?.({ items: [second] })
        // the plan names every item, those already fed too
        return { items: [first, second], excluded: [], repositories: 2 }
      }),
    )
    expect(syncedWhileListing).toBe(imgs['1.0']!.digest)
    expect(result.task).toMatchObject({ status: 'succeeded', items: 2, synced: 2 })
    expect(result.items.map((i) => i.tag).sort()).toEqual(['1.0', '2.0'])
    expect(lines().filter((l) => l.type === 'item')).toHaveLength(2)
  })

  it('a planner that fails after feeding: what it fed still ends and is recorded, the task fails with its code', async () => {
    const { item } = world()
    const result = await runTask(
      spec(async (feed) => {
        feed?.({ items: [item('1.0')] })
        throw new ImgsyncError('CATALOG_UNAVAILABLE', 'no catalog')
      }),
    )
    expect(result.task).toMatchObject({ status: 'failed', code: 'CATALOG_UNAVAILABLE', synced: 1 })
    expect(result.items.map((i) => [i.tag, i.status])).toEqual([['1.0', 'synced']])
  })
})

describe('newTaskId', () => {
  it('is time-stamped and unique', () => {
    const now = new Date('2025-03-04T05:06:07.890Z')
    const a = newTaskId(now)
    expect(a).toMatch(/^t-20250304-050607-[0-9a-f]{6}$/)
    expect(newTaskId(now)).not.toBe(a)
  })
})
