// Records that run for a year: rotation keeps the file set bounded, readers see rotated files
// oldest first, a file moved away (logrotate, another writer's rotation) is followed, and the
// queries keep memory bounded by their limit.
import { existsSync, readFileSync, renameSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ItemQuery, TaskSummary } from '../../src/records/query.js'
import { looksWhole, readRecords } from '../../src/records/reader.js'
import { RecordWriter } from '../../src/records/store.js'
import type { ItemRecord, TaskRecord } from '../../src/records/types.js'
import { taskRecord } from '../support/records.js'
import { tempDirs } from '../support/temp-dir.js'

const tempDir = tempDirs('imgsync-rec-scale-')

function task(n: number, status: TaskRecord['status'] = 'succeeded'): TaskRecord {
  return taskRecord({
    taskId: `t-${n}`,
    status,
    trigger: 'scheduled',
    rule: 'nightly',
    source: 'src/ns',
    target: 'dst/ns',
    startedAt: new Date(Date.UTC(2026, 0, 1) + n * 300_000).toISOString(),
    durationMs: 1000,
    items: 800,
    skipped: 800,
  })
}

describe('records rotation', () => {
  it('a simulated year of five-minute schedules keeps the file set under maxBytes × (keep + 1)', () => {
    const file = join(tempDir(), 'records.jsonl')
    const maxBytes = 64 * 1024
    const keep = 3
    const w = new RecordWriter(file, { maxBytes, keep })
    const runs = 365 * 288
    for (let n = 0; n < runs; n++) w.append(task(n))
    w.close()
    const files = [file, ...Array.from({ length: keep + 2 }, (_, i) => `${file}.${i + 1}`)]
    const sizes = files.filter((f) => existsSync(f)).map((f) => statSync(f).size)
    expect(sizes).toHaveLength(keep + 1)
    expect(sizes.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(maxBytes * (keep + 1))
    for (const s of sizes) expect(s).toBeLessThanOrEqual(maxBytes)
  })

  it('maxBytes 0 never rotates', () => {
    const file = join(tempDir(), 'records.jsonl')
    const w = new RecordWriter(file, { maxBytes: 0, keep: 3 })
    for (let n = 0; n < 50; n++) w.append(task(n))
    w.close()
    expect(existsSync(`${file}.1`)).toBe(false)
    expect(readFileSync(file, 'utf8').split('\n').filter(Boolean)).toHaveLength(50)
  })

  it('readers see the rotated files too, oldest first, and the newest lines last', async () => {
    const file = join(tempDir(), 'records.jsonl')
    const w = new RecordWriter(file, { maxBytes: 4096, keep: 10 })
    for (let n = 0; n < 40; n++) w.append(task(n))
    w.close()
    expect(existsSync(`${file}.1`)).toBe(true)
    const { records } = await readRecords([file])
    expect(records.map((r) => r.taskId)).toEqual(Array.from({ length: 40 }, (_, n) => `t-${n}`))
  })

  it('a file moved away (logrotate) is followed: reopen writes to the path again', () => {
    const dir = tempDir()
    const file = join(dir, 'records.jsonl')
    const w = new RecordWriter(file)
    w.append(task(1))
    renameSync(file, `${file}.old`)
    w.reopen()
    w.append(task(2))
    w.close()
    expect(readFileSync(file, 'utf8')).toContain('"t-2"')
    expect(readFileSync(`${file}.old`, 'utf8')).not.toContain('"t-2"')
  })
})

describe('queries in bounded memory', () => {
  it('a summary keeps the newest tasks and the progress of running ones, whatever the number', () => {
    const q = new TaskSummary({ limit: 5 })
    for (let n = 0; n < 10_000; n++) {
      q.add(task(n, 'running'))
      if (n !== 9_999) q.add(task(n))
    }
    const line = JSON.stringify({
      type: 'item',
      taskId: 't-9999',
      status: 'synced',
      bytes: 10,
    } as Partial<ItemRecord>)
    expect(q.wants(line)).toBe(true)
    expect(q.wants(line.replace('t-9999', 't-1'))).toBe(false)
    q.add(JSON.parse(line) as ItemRecord)
    const rows = q.result()
    expect(rows.map((t) => t.taskId)).toEqual(['t-9999', 't-9998', 't-9997', 't-9996', 't-9995'])
    expect(rows[0]).toMatchObject({ status: 'running', synced: 1, bytes: 10 })
  })

  it('an item query keeps the newest matches only', () => {
    const q = new ItemQuery({ limit: 3, status: 'failed' })
    for (let n = 0; n < 5_000; n++) {
      const item = {
        type: 'item',
        taskId: 't',
        status: n % 2 ? 'failed' : 'synced',
        startedAt: task(n).startedAt,
      }
      const line = JSON.stringify(item)
      if (q.wants(line)) q.add(item as ItemRecord)
    }
    expect(q.result().map((i) => i.startedAt)).toEqual([
      task(4999).startedAt,
      task(4997).startedAt,
      task(4995).startedAt,
    ])
  })
})

describe('looksWhole', () => {
  it('tells whole record lines from lines a crash cut, without parsing', () => {
    const whole = JSON.stringify({ type: 'item', taskId: 't', message: 'a "{\\"type\\":\\"" inside' })
    expect(looksWhole(whole)).toBe(true)
    expect(looksWhole('{"type":"item", broken')).toBe(false)
    expect(looksWhole(`{"type":"item","taskId":"t","tag":"1.${whole}`)).toBe(false)
    expect(looksWhole('garbage')).toBe(false)
  })
})
