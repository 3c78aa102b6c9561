import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { type PushJob, PushJournal } from '../../src/triggers/journal.js'
import { type JobOutcome, PushQueue } from '../../src/triggers/push-queue.js'
import { tempDirs } from '../support/temp-dir.js'

const tempDir = tempDirs('imgsync-queue-')
const journal = () => new PushJournal(join(tempDir(), 'records.jsonl.journal'))

const job = (id: string, tag: string, digest = `sha256:${id}`, at = Date.now()): PushJob => ({
  id,
  rule: 'r',
  repository: 'app',
  tag,
  digest,
  at,
})

/** A run function whose calls the test ends one by one. */
function controlledRuns() {
  const calls: { job: PushJob; end: (o: JobOutcome) => void }[] = []
  const run = (j: PushJob) => new Promise<JobOutcome>((end) => calls.push({ job: j, end }))
  return { calls, run }
}

const tick = () => new Promise((r) => setTimeout(r, 5))

describe('PushQueue', () => {
  it('a push of a tag still queued joins that job (the newest digest wins)', async () => {
    const { calls, run } = controlledRuns()
    const j = journal()
    const q = new PushQueue({ workers: 1, journal: j, run, retryForMs: 60_000, maxQueued: 10, say: () => {} })
    expect(q.add([job('a', 'v1'), job('b', 'v2'), job('c', 'v2', 'sha256:newer')])).toEqual([
      'queued',
      'queued',
      'coalesced',
    ])
    expect(j.pending).toBe(2)
    await tick()
    calls[0]!.end('done')
    await tick()
    expect(calls.map((c) => [c.job.tag, c.job.digest])).toEqual([
      ['v1', 'sha256:a'],
      ['v2', 'sha256:newer'],
    ])
    calls[1]!.end('done')
    await tick()
    expect(j.pending).toBe(0)
  })

  it('a job that failed for now is retried at once when another job of its rule gets through', async () => {
    const { calls, run } = controlledRuns()
    const j = journal()
    const q = new PushQueue({ workers: 1, journal: j, run, retryForMs: 60_000, maxQueued: 10, say: () => {} })
    q.add([job('a', 'v1'), job('b', 'v2')])
    await tick()
    calls[0]!.end('retry') // its first retry would wait about 2 s
    await tick()
    expect(q.queued).toBe(1)
    calls[1]!.end('done')
    await tick()
    expect(calls.map((c) => c.job.id)).toEqual(['a', 'b', 'a'])
    calls[2]!.end('done')
    await tick()
    expect(j.pending).toBe(0)
  })

  it('gives up on a job past the retry window, and tells why', async () => {
    const { calls, run } = controlledRuns()
    const said: string[] = []
    const j = journal()
    const q = new PushQueue({
      workers: 1,
      journal: j,
      run,
      retryForMs: 1_000,
      maxQueued: 10,
      say: (l) => said.push(l),
    })
    q.add([job('old', 'v1', 'sha256:x', Date.now() - 5_000)])
    await tick()
    calls[0]!.end('retry')
    await tick()
    expect(q.queued).toBe(0)
    expect(j.pending).toBe(0)
    expect(said).toEqual(['push app:v1 (rule r): still failing; giving up after 1 tries'])
  })

  it('drain: what runs is interrupted, what waits is listed, and both stay in the journal', async () => {
    const { calls, run } = controlledRuns()
    const j = journal()
    const q = new PushQueue({ workers: 1, journal: j, run, retryForMs: 60_000, maxQueued: 10, say: () => {} })
    q.add([job('a', 'v1'), job('b', 'v2'), job('c', 'v3')])
    await tick()
    let interrupted = false
    const drained = q.drain(0, () => {
      interrupted = true
      calls[0]!.end('interrupted')
    })
    const { left, unstarted } = await drained
    expect(interrupted).toBe(true)
    expect(calls).toHaveLength(1)
    expect(unstarted.map((u) => u.id)).toEqual(['b', 'c'])
    expect(left).toBe(3)
    expect(q.accepts).toBe(false)
    const reopened = new PushJournal(j.path)
    expect(reopened.load().map((u) => u.id)).toEqual(['a', 'b', 'c'])
  })
})
