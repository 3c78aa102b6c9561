// `imgsync records` on a records file of two million lines (about a year of a busy schedule): the
// summary and a filtered query stream it, so peak memory stays far below the file's size.
import { createWriteStream } from 'node:fs'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runImgsync } from '../harness/cli.js'

const LINES = 2_000_000
/** items per task, as in a schedule rule over 800 tags */
const PER_TASK = 800
const MAX_RSS_KIB = 150 * 1024

let dir: string
let file: string

/** Writes LINES records: tasks of PER_TASK items each, every 1000th item failed; returns task count. */
async function generate(path: string): Promise<number> {
  const out = createWriteStream(path)
  const write = (line: string) =>
    out.write(`${line}\n`) ? Promise.resolve() : new Promise<void>((r) => out.once('drain', () => r()))
  let written = 0
  let tasks = 0
  const day = Date.parse('2026-01-01T00:00:00Z')
  while (written < LINES) {
    tasks++
    const taskId = `t-2026-${String(tasks).padStart(8, '0')}`
    const startedAt = new Date(day + tasks * 300_000).toISOString()
    const items = Math.min(PER_TASK, LINES - written - 1)
    const failed = Math.floor(items / 1000) + (items % 1000 > 0 ? 1 : 0)
    const task = {
      type: 'task',
      taskId,
      trigger: 'scheduled',
      rule: tasks % 2 === 0 ? 'nightly' : 'hourly',
      source: 'src/ns',
      target: 'dst/ns',
      dryRun: false,
      startedAt,
      repositories: 10,
      items,
      bytes: 0,
    }
    await write(
      JSON.stringify({ ...task, status: 'running', durationMs: 0, synced: 0, skipped: 0, failed: 0 }),
    )
    written++
    for (let i = 0; i < items; i++) {
      const tag = `1.${Math.floor(i / 100)}.${i % 100}`
      const status = i % 1000 === 0 ? 'failed' : 'skipped'
      await write(
        JSON.stringify({
          type: 'item',
          taskId,
          rule: task.rule,
          trigger: 'scheduled',
          source: `src.example.com/ns/app:${tag}`,
          target: `dst.example.com/ns/app:${tag}`,
          repository: 'ns/app',
          tag,
          digest: `sha256:${'a'.repeat(64)}`,
          status,
          ...(status === 'failed'
            ? { code: 'NETWORK', message: 'connection reset' }
            : { reason: 'same digest' }),
          bytes: 0,
          blobs: { copied: 0, mounted: 0, skipped: 0 },
          startedAt,
          durationMs: 3,
        }),
      )
      written++
    }
    if (written < LINES) {
      await write(
        JSON.stringify({
          ...task,
          status: 'partial',
          durationMs: 1200,
          synced: 0,
          skipped: items - failed,
          failed,
        }),
      )
      written++
    }
  }
  await new Promise<void>((resolve, reject) =>
    out.end((err?: Error | null) => (err ? reject(err) : resolve())),
  )
  return tasks
}

let taskCount = 0

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'imgsync-records-scale-'))
  file = join(dir, 'records.jsonl')
  taskCount = await generate(file)
}, 120_000)

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('records on a two-million-line file', () => {
  it('the file is what the test says: 2M lines, far bigger than the memory allowed', async () => {
    expect((await stat(file)).size).toBeGreaterThan(4 * MAX_RSS_KIB * 1024)
    expect(taskCount).toBeGreaterThan(2000)
  })

  it('--summary streams it: the newest tasks, the last one still running, peak RSS under 150 MB', async () => {
    const run = await runImgsync(['records', '--records', file, '--summary', '--json', '--limit', '5'], {
      measureRss: true,
      timeoutMs: 120_000,
    })
    expect(run.code, run.stderr).toBe(0)
    const { tasks } = JSON.parse(run.stdout) as { tasks: { taskId: string; status: string }[] }
    expect(tasks).toHaveLength(5)
    const last = tasks.find((t) => t.taskId === `t-2026-${String(taskCount).padStart(8, '0')}`)
    expect(last?.status).toBe('running')
    expect(tasks.filter((t) => t !== last).every((t) => t.status === 'partial')).toBe(true)
    expect(run.rssKiB, 'peak RSS in KiB').toBeTypeOf('number')
    expect(run.rssKiB!).toBeLessThan(MAX_RSS_KIB)
  })

  it('a filtered query (failed items of one rule) streams it too, peak RSS under 150 MB', async () => {
    const run = await runImgsync(
      ['records', '--records', file, '--status', 'failed', '--rule', 'nightly', '--json', '--limit', '1000'],
      { measureRss: true, timeoutMs: 120_000 },
    )
    expect(run.code, run.stderr).toBe(0)
    const { items } = JSON.parse(run.stdout) as { items: { status: string; rule: string; code: string }[] }
    expect(items.length).toBe(1000)
    expect(items.every((i) => i.status === 'failed' && i.rule === 'nightly' && i.code === 'NETWORK')).toBe(
      true,
    )
    expect(run.rssKiB!).toBeLessThan(MAX_RSS_KIB)
  })
})
