// The progress line and what a forced stop writes, without a terminal: a fake stream and clock.
import { describe, expect, it } from 'vitest'
import { abandonedTask, RunningTasks } from '../../src/cli/interrupt.js'
import type { ItemRecord, TaskRecord } from '../../src/records/types.js'
import type { Plan } from '../../src/sync/plan.js'
import { formatEta, ProgressView, progressText } from '../../src/ui/progress.js'
import { summaryLine } from '../../src/ui/task-view.js'
import { taskRecord } from '../support/records.js'

const MiB = 1024 * 1024

function fakeStream(columns = 100) {
  const writes: string[] = []
  const stream = { columns, write: (s: string) => writes.push(s) > 0 } as unknown as NodeJS.WriteStream
  return { stream, writes, text: () => writes.join('') }
}

const plan = (n: number) =>
  ({ items: Array.from({ length: n }), excluded: [], repositories: 1 }) as unknown as Plan
const blob = (digest: string, size: number) => ({ mediaType: 'application/octet-stream', digest, size })

function task(over: Partial<TaskRecord> = {}): TaskRecord {
  return taskRecord({
    status: 'running',
    source: 'a.example/app',
    target: 'b.example/app',
    startedAt: new Date(1_000_000).toISOString(),
    items: 6,
    ...over,
  })
}

describe('progressText', () => {
  it('bytes of a total, a rate, an ETA, and the images', () => {
    const line = progressText(
      { images: 1, done: 0, total: 200 * MiB, moved: 73 * MiB, rate: 10 * MiB, last: '' },
      120,
    )
    expect(line).toBe(` ${'█'.repeat(7)}${'░'.repeat(13)}  73 MiB/200 MiB  10 MiB/s  ETA 13s  0/1 image`)
  })

  it('without bytes (a dry run, or everything up to date): the images fill the bar', () => {
    expect(progressText({ images: 4, done: 2, total: 0, moved: 0, rate: 0, last: 'v2 skipped' }, 120)).toBe(
      ` ${'█'.repeat(10)}${'░'.repeat(10)}  2/4 images  v2 skipped`,
    )
  })

  it('never wider than the terminal', () => {
    const line = progressText(
      { images: 9, done: 1, total: MiB, moved: 1, rate: 1, last: 'x'.repeat(200) },
      40,
    )
    expect(line.length).toBeLessThan(40)
    expect(line.endsWith('…')).toBe(true)
  })

  it('formatEta', () => {
    expect([formatEta(0.2), formatEta(59), formatEta(125), formatEta(7300)]).toEqual([
      '1s',
      '59s',
      '2m05s',
      '2h01m',
    ])
  })
})

describe('ProgressView', () => {
  it('the total grows as blobs start (each counted once); rate and ETA from the bytes of the last seconds', () => {
    let now = 0
    const out = fakeStream()
    const view = new ProgressView({ enabled: true, stream: out.stream, now: () => now, tickMs: 60_000 })
    view.planned(plan(1))
    view.blobStarted('src.example', blob('sha256:a', 100 * MiB))
    view.blobStarted('src.example', blob('sha256:a', 100 * MiB))
    view.blobStarted('src.example', blob('sha256:b', 100 * MiB))
    now = 2000
    view.bytes(20 * MiB)
    expect(out.writes.at(-1)).toMatch(/20 MiB\/200 MiB {2}10 MiB\/s {2}ETA 18s {2}0\/1 image$/)
    view.taskDone(task())
    view.end()
  })

  it('what items did while the planner still listed is on the first line drawn', () => {
    let now = 0
    const out = fakeStream()
    const view = new ProgressView({ enabled: true, stream: out.stream, now: () => now, tickMs: 60_000 })
    view.taskStarted(task())
    view.blobStarted('src.example', blob('sha256:a', 10 * MiB))
    view.bytes(10 * MiB)
    view.itemDone({ tag: 'v1', status: 'synced' } as ItemRecord)
    expect(out.writes).toEqual([])
    now = 1000
    view.planned(plan(3))
    expect(out.writes.at(-1)).toMatch(/10 MiB\/10 MiB {2}1\/3 images {2}v1 synced$/)
    view.taskDone(task())
    // the next task starts from nothing
    view.taskStarted(task())
    view.planned(plan(1))
    expect(out.writes.at(-1)).toMatch(/0\/1 image$/)
    view.end()
  })

  it('hides the cursor while drawing; taskDone clears the line and shows it; nothing is drawn after', () => {
    const out = fakeStream()
    const view = new ProgressView({ enabled: true, stream: out.stream, tickMs: 60_000 })
    view.planned(plan(2))
    expect(out.writes[0]).toContain('\u001b[?25l')
    view.taskDone(task())
    expect(out.text().endsWith('\r\u001b[K\u001b[?25h')).toBe(true)
    const before = out.writes.length
    view.bytes(100)
    view.itemDone({ tag: 'late', status: 'synced' } as ItemRecord)
    expect(out.writes.length).toBe(before)
  })

  it('clear() leaves an empty line for a notice; abandon() gives the terminal back', () => {
    const out = fakeStream()
    const view = new ProgressView({ enabled: true, stream: out.stream, tickMs: 60_000 })
    view.planned(plan(2))
    view.clear()
    expect(out.writes.at(-1)).toBe('\r\u001b[K')
    view.abandon()
    expect(out.text().endsWith('\r\u001b[K\u001b[?25h\u001b[?7h')).toBe(true)
  })

  it('end() leaves the line empty for the summary, also of a ^C echoed after the stop notice', () => {
    const out = fakeStream()
    const view = new ProgressView({ enabled: true, stream: out.stream, tickMs: 60_000 })
    view.planned(plan(2))
    view.clear()
    // the notice was written; the terminal echoed "^C" on the next line; the run ends
    view.end()
    expect(out.writes.at(-1)).toBe('\r\u001b[K')
    const off = fakeStream()
    new ProgressView({ enabled: false, stream: off.stream }).end()
    expect(off.writes).toEqual([])
  })

  it('writes nothing when not enabled (not a terminal, or --json)', () => {
    const out = fakeStream()
    const view = new ProgressView({ enabled: false, stream: out.stream })
    view.planned(plan(2))
    view.bytes(5)
    view.abandon()
    expect(out.writes).toEqual([])
  })
})

describe('a forced stop (second signal)', () => {
  it('closes each running task as interrupted, with what it had done', () => {
    const running = new RunningTasks()
    const t = task()
    running.taskStarted(t)
    t.synced = 2
    t.bytes = 3 * MiB
    running.itemDone({ taskId: 't-1', tag: 'a', status: 'synced' } as ItemRecord)
    running.itemDone({ taskId: 't-1', tag: 'b', status: 'synced' } as ItemRecord)
    const [result] = running.abandon('SIGINT', 1_000_000 + 4200)
    expect(result!.task).toMatchObject({
      status: 'interrupted',
      code: 'INTERRUPTED',
      message: 'stopped at once by a second SIGINT; run the same command again to finish',
      durationMs: 4200,
      synced: 2,
      successRate: 1,
    })
    expect(summaryLine(result!)).toMatch(
      /^interrupted: 2 synced, 0 skipped, 0 failed, 4 not finished, 3\.0 MiB in 4\.2s — stopped at once by a second SIGINT; run the same command again to finish {2}task t-1$/,
    )
    running.taskDone(t)
    expect(running.abandon('SIGINT')).toEqual([])
  })

  it('nothing done is no 100% success rate', () => {
    expect(abandonedTask(task(), 'SIGTERM').successRate).toBe(0)
  })
})
