import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Settings } from '../../src/cli/settings.js'
import { registerSecret } from '../../src/log.js'
import { filterItems, latestTasks, parseSince, summarizeTasks } from '../../src/records/query.js'
import { readRecords } from '../../src/records/reader.js'
import { RecordWriter } from '../../src/records/store.js'
import type { ItemRecord, ItemStatus, SyncRecord, TaskRecord } from '../../src/records/types.js'
import { taskRecord } from '../support/records.js'
import { thrown } from '../support/rejection.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'imgsync-records-'))
})
afterEach(() => {
  rmSync(dir, { recursive: true, force: true })
})

function task(taskId: string, startedAt: string, over: Partial<TaskRecord> = {}): TaskRecord {
  return taskRecord({ taskId, startedAt, durationMs: 10, ...over })
}

function item(
  taskId: string,
  repo: string,
  tag: string,
  status: ItemStatus,
  startedAt: string,
  bytes = 0,
): ItemRecord {
  return {
    type: 'item',
    taskId,
    trigger: 'manual',
    source: `src.example/${repo}:${tag}`,
    target: `dst.example/mirror/${repo}:${tag}`,
    repository: repo,
    tag,
    status,
    bytes,
    blobs: { copied: 0, mounted: 0, skipped: 0 },
    startedAt,
    durationMs: 1,
  }
}

const jsonl = (recs: unknown[]) => recs.map((r) => JSON.stringify(r)).join('\n')

describe('readRecords', () => {
  it('skips damaged lines and reports them as file:line', async () => {
    const file = join(dir, 'records.jsonl')
    const good1 = task('t1', '2025-01-01T00:00:00.000Z', { status: 'running' })
    const good2 = item('t1', 'app', '1', 'synced', '2025-01-01T00:00:01.000Z')
    writeFileSync(
      file,
      [
        JSON.stringify(good1),
        '{"type":"item","taskId":"t1","tr', // a partial line (crash)
        '',
        JSON.stringify(good2),
        '{"type":"other","taskId":"t1"}', // parses, but is not a record
        '[1,2]',
        '{"type":"task"}', // no taskId
        'null',
        '   ',
        JSON.stringify(task('t1', '2025-01-01T00:00:00.000Z')),
        '{"truncated":', // last line, no newline
      ].join('\n'),
    )
    const { records, damaged } = await readRecords([file])
    expect(records).toHaveLength(3)
    expect(records[0]).toEqual(good1)
    expect(records[1]).toEqual(good2)
    expect(damaged).toEqual([`${file}:2`, `${file}:5`, `${file}:6`, `${file}:7`, `${file}:8`, `${file}:11`])
  })

  it('tolerates CRLF line endings', async () => {
    const file = join(dir, 'crlf.jsonl')
    writeFileSync(file, `${JSON.stringify(task('t1', '2025-01-01T00:00:00Z'))}\r\n`)
    const { records, damaged } = await readRecords([file])
    expect(records).toHaveLength(1)
    expect(damaged).toEqual([])
  })

  it('reads every *.jsonl of a directory, in name order, and nothing else', async () => {
    const sub = join(dir, 'recs')
    mkdirSync(sub)
    writeFileSync(join(sub, 'b.jsonl'), jsonl([task('tb', '2025-01-02T00:00:00Z')]))
    writeFileSync(join(sub, 'a.jsonl'), jsonl([task('ta', '2025-01-01T00:00:00Z'), 'x']))
    writeFileSync(join(sub, 'notes.txt'), 'not records')
    writeFileSync(join(sub, 'c.jsonl.bak'), jsonl([task('tc', '2025-01-03T00:00:00Z')]))
    const { records, damaged } = await readRecords([sub])
    expect(records.map((r) => r.taskId)).toEqual(['ta', 'tb'])
    expect(damaged).toEqual([`${join(sub, 'a.jsonl')}:2`])
  })

  it('reads several paths, and a missing file as empty', async () => {
    const a = join(dir, 'a.jsonl')
    writeFileSync(a, jsonl([task('t1', '2025-01-01T00:00:00Z')]))
    const { records, damaged } = await readRecords([a, join(dir, 'missing.jsonl')])
    expect(records).toHaveLength(1)
    expect(damaged).toEqual([])
  })
})

describe('RecordWriter', () => {
  it('appends one JSON line per record, creating directories, mode 0600', async () => {
    const path = join(dir, 'deep', 'er', 'records.jsonl')
    const w = new RecordWriter(path)
    w.append(task('t1', '2025-01-01T00:00:00Z', { status: 'running' }))
    w.append(item('t1', 'app', '1', 'synced', '2025-01-01T00:00:01Z'))
    w.close()
    const w2 = new RecordWriter(path)
    w2.append(task('t1', '2025-01-01T00:00:00Z'))
    w2.close()
    const text = readFileSync(path, 'utf8')
    expect(text.endsWith('\n')).toBe(true)
    expect(text.trimEnd().split('\n')).toHaveLength(3)
    const { records } = await readRecords([path])
    expect(records.map((r) => r.type)).toEqual(['task', 'item', 'task'])
    expect(statSync(path).mode & 0o777).toBe(0o600)
  })

  it('never writes a registered secret', () => {
    const secret = 'hunter2-records-secret'
    registerSecret(secret)
    const path = join(dir, 'r.jsonl')
    const w = new RecordWriter(path)
    w.append({
      ...item('t1', 'app', '1', 'failed', '2025-01-01T00:00:00Z'),
      message: `login failed for ${secret}`,
    })
    w.close()
    const text = readFileSync(path, 'utf8')
    expect(text).not.toContain(secret)
    expect(text).toContain('<redacted>')
  })

  it('fails CONFIG_INVALID when the file cannot be opened', () => {
    writeFileSync(join(dir, 'file'), 'x')
    const w = new RecordWriter(join(dir, 'file', 'records.jsonl'))
    expect(() => w.append(task('t', '2025-01-01T00:00:00Z'))).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    )
  })

  it('the records path: flag, then IMGSYNC_RECORDS, then XDG_STATE_HOME', () => {
    expect(new Settings({ IMGSYNC_RECORDS: '/y' }).recordsPath('/x.jsonl')).toBe('/x.jsonl')
    expect(new Settings({ IMGSYNC_RECORDS: '/y' }).recordsPath()).toBe('/y')
    expect(new Settings({ XDG_STATE_HOME: '/state' }).recordsPath()).toBe('/state/imgsync/records.jsonl')
  })
})

describe('parseSince', () => {
  const now = Date.parse('2025-06-01T12:00:00Z')
  it.each([
    ['24h', 24 * 3600e3],
    ['30m', 30 * 60e3],
    ['90s', 90e3],
    ['7d', 7 * 86400e3],
    ['2w', 14 * 86400e3],
    [' 5 m ', 5 * 60e3],
  ])('%s before now', (text, ms) => {
    expect(parseSince(text, now)).toBe(now - ms)
  })

  it('reads an ISO date or time', () => {
    expect(parseSince('2025-05-01T00:00:00Z', now)).toBe(Date.parse('2025-05-01T00:00:00Z'))
    expect(parseSince('2025-05-01', now)).toBe(Date.parse('2025-05-01'))
  })

  it.each(['yesterday', '24x', '', 'h', '-5m', '5 hours'])('%j → INVALID_ARGUMENT', (text) => {
    const err = thrown(() => parseSince(text, now))
    expect(err.code).toBe('INVALID_ARGUMENT')
    expect(err.message).toContain('--since')
  })
})

describe('filterItems', () => {
  const recs: SyncRecord[] = [
    task('t1', '2025-01-01T00:00:00Z'),
    item('t1', 'app', '1.0', 'synced', '2025-01-01T00:00:01Z'),
    item('t1', 'app', '2.0', 'failed', '2025-01-01T00:00:03Z'),
    item('t1', 'web', '1.0', 'skipped', '2025-01-01T00:00:02Z'),
    { ...item('t2', 'app', '1.0', 'skipped', '2025-01-02T00:00:00Z'), rule: 'nightly' },
    item('t2', 'team/app', '1.0', 'synced', '2025-01-02T00:00:01Z'),
  ]
  const keys = (xs: ItemRecord[]) => xs.map((i) => `${i.taskId} ${i.repository}:${i.tag} ${i.status}`)

  it('returns items only, newest first', () => {
    expect(keys(filterItems(recs, {}))).toEqual([
      't2 team/app:1.0 synced',
      't2 app:1.0 skipped',
      't1 app:2.0 failed',
      't1 web:1.0 skipped',
      't1 app:1.0 synced',
    ])
  })

  it('by repo, tag, status, task and rule', () => {
    expect(keys(filterItems(recs, { repo: 'web' }))).toEqual(['t1 web:1.0 skipped'])
    expect(keys(filterItems(recs, { repo: 'team/app' }))).toEqual(['t2 team/app:1.0 synced'])
    expect(keys(filterItems(recs, { tag: '2.0' }))).toEqual(['t1 app:2.0 failed'])
    expect(keys(filterItems(recs, { status: 'skipped' }))).toEqual([
      't2 app:1.0 skipped',
      't1 web:1.0 skipped',
    ])
    expect(keys(filterItems(recs, { task: 't1', status: 'synced' }))).toEqual(['t1 app:1.0 synced'])
    expect(keys(filterItems(recs, { rule: 'nightly' }))).toEqual(['t2 app:1.0 skipped'])
    expect(filterItems(recs, { repo: 'nope' })).toEqual([])
  })

  it('by since (inclusive) and limit', () => {
    expect(keys(filterItems(recs, { since: Date.parse('2025-01-01T00:00:02Z') }))).toEqual([
      't2 team/app:1.0 synced',
      't2 app:1.0 skipped',
      't1 app:2.0 failed',
      't1 web:1.0 skipped',
    ])
    expect(keys(filterItems(recs, { limit: 2 }))).toEqual(['t2 team/app:1.0 synced', 't2 app:1.0 skipped'])
    expect(keys(filterItems(recs, { status: 'synced', limit: 1 }))).toEqual(['t2 team/app:1.0 synced'])
  })
})

describe('summarizeTasks and latestTasks', () => {
  const finishedStart = task('t1', '2025-01-01T00:00:00Z', { status: 'running' })
  const finishedEnd = task('t1', '2025-01-01T00:00:00Z', {
    status: 'partial',
    items: 2,
    synced: 1,
    failed: 1,
    successRate: 0.5,
    bytes: 50,
  })
  const running = task('t2', '2025-01-02T00:00:00Z', { status: 'running', items: 4 })
  const recs: SyncRecord[] = [
    finishedStart,
    item('t1', 'app', '1', 'synced', '2025-01-01T00:00:01Z', 50),
    item('t1', 'app', '2', 'failed', '2025-01-01T00:00:02Z'),
    finishedEnd,
    running,
    item('t2', 'app', '1', 'synced', '2025-01-02T00:00:01Z', 100),
    item('t2', 'app', '2', 'synced', '2025-01-02T00:00:02Z', 20),
    item('t2', 'app', '3', 'failed', '2025-01-02T00:00:03Z'),
    item('t2', 'app', '4', 'skipped', '2025-01-02T00:00:04Z'),
    task('t3', '2025-01-03T00:00:00Z', { status: 'running' }),
  ]

  it('latestTasks keeps the last line of each task', () => {
    const m = latestTasks(recs)
    expect([...m.keys()]).toEqual(['t1', 't2', 't3'])
    expect(m.get('t1')).toEqual(finishedEnd)
  })

  it('one row per task, newest first; a running task shows its progress from its items', () => {
    const rows = summarizeTasks(recs, {})
    expect(rows.map((r) => `${r.taskId} ${r.status}`)).toEqual(['t3 running', 't2 running', 't1 partial'])
    expect(rows[2]).toEqual(finishedEnd)
    expect(rows[1]).toMatchObject({ taskId: 't2', items: 4, synced: 2, skipped: 1, failed: 1, bytes: 120 })
    expect(rows[1]!.successRate).toBeCloseTo(0.75, 4)
    // nothing of t3 has ended yet: no 100%
    expect(rows[0]).toMatchObject({ taskId: 't3', synced: 0, failed: 0, successRate: 0 })
  })

  it('filters by task, rule and since, and limits', () => {
    expect(summarizeTasks(recs, { task: 't1' }).map((r) => r.taskId)).toEqual(['t1'])
    expect(summarizeTasks(recs, { since: Date.parse('2025-01-02T00:00:00Z') }).map((r) => r.taskId)).toEqual([
      't3',
      't2',
    ])
    expect(summarizeTasks(recs, { limit: 1 }).map((r) => r.taskId)).toEqual(['t3'])
    const withRule = [...recs, task('t4', '2025-01-04T00:00:00Z', { rule: 'nightly' })]
    expect(summarizeTasks(withRule, { rule: 'nightly' }).map((r) => r.taskId)).toEqual(['t4'])
  })
})
