// serve's push journal: accepted jobs survive a stop or crash until marked done, and the file is
// compacted to the open jobs.
import { appendFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { type PushJob, PushJournal } from '../../src/triggers/journal.js'
import { tempDirs } from '../support/temp-dir.js'

const tempDir = tempDirs('imgsync-journal-')
const file = () => join(tempDir(), 'records.jsonl.journal')
const job = (n: number): PushJob => ({ id: `e${n}`, rule: 'r', repository: 'app', tag: `v${n}`, at: n })

describe('PushJournal', () => {
  it('jobs accepted and not done are there after a restart, oldest first', () => {
    const path = file()
    const a = new PushJournal(path)
    expect(a.load()).toEqual([])
    a.accept([job(3), job(1), job(2)])
    a.done('e1')
    a.close()
    const b = new PushJournal(path)
    expect(b.load().map((j) => j.id)).toEqual(['e2', 'e3'])
    expect(b.pending).toBe(2)
  })

  it('a line cut by a crash is skipped; loading rewrites the file with the open jobs only', () => {
    const path = file()
    const a = new PushJournal(path)
    a.load()
    a.accept([job(1), job(2)])
    a.done('e2')
    a.close()
    appendFileSync(path, '{"a":{"id":"e9","rule"')
    const b = new PushJournal(path)
    expect(b.load().map((j) => j.id)).toEqual(['e1'])
    b.close()
    expect(readFileSync(path, 'utf8').trim().split('\n')).toHaveLength(1)
  })
})
