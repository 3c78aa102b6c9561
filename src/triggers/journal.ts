// The push journal: every push job `serve` accepted is written (and fsynced) before the webhook
// is answered 202, and marked done when it has run. A job not marked done (serve stopped, crashed,
// or the target was down) is run again when serve starts. Registries do not resend an event they
// got a 2xx for, so this file is what keeps an accepted push from being lost.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import writeFileAtomic from 'write-file-atomic'

/** One push job: a rule syncing one pushed tag. */
export interface PushJob {
  id: string
  rule: string
  repository: string
  tag: string
  digest?: string
  /** when the push was accepted (ms) */
  at: number
}

type Line = { a: PushJob } | { d: string }

/** Done marks kept in the file before it is rewritten with only the open jobs. */
const COMPACT_AFTER = 10_000

export class PushJournal {
  private fd: number | undefined
  private readonly open = new Map<string, PushJob>()
  private marks = 0

  constructor(readonly path: string) {}

  /** The jobs accepted and never finished (oldest first); the file is rewritten with just those. */
  load(): PushJob[] {
    let text = ''
    try {
      text = readFileSync(this.path, 'utf8')
    } catch {
      // no journal yet
    }
    for (const raw of text.split('\n')) {
      let line: Line
      try {
        line = JSON.parse(raw) as Line
      } catch {
        continue // a line cut by a crash
      }
      if ('a' in line && line.a && typeof line.a.id === 'string') this.open.set(line.a.id, line.a)
      else if ('d' in line) this.open.delete(line.d)
    }
    this.compact()
    return [...this.open.values()].sort((a, b) => a.at - b.at)
  }

  /** Writes accepted jobs to disk, durably, before the webhook is answered. */
  accept(jobs: PushJob[]): void {
    if (jobs.length === 0) return
    for (const job of jobs) this.open.set(job.id, job)
    this.write(jobs.map((a) => JSON.stringify({ a })).join('\n'), true)
  }

  /** Marks a job finished (not fsynced: a lost mark only runs an idempotent sync once more). */
  done(id: string): void {
    if (!this.open.delete(id)) return
    this.write(JSON.stringify({ d: id }), false)
    if (++this.marks >= COMPACT_AFTER) this.compact()
  }

  /** Jobs accepted and not finished. */
  get pending(): number {
    return this.open.size
  }

  close(): void {
    if (this.fd === undefined) return
    fsyncSync(this.fd)
    closeSync(this.fd)
    this.fd = undefined
  }

  private write(lines: string, durable: boolean): void {
    if (this.fd === undefined) {
      mkdirSync(dirname(this.path), { recursive: true })
      this.fd = openSync(this.path, 'a', 0o600)
    }
    writeSync(this.fd, `${lines}\n`)
    if (durable) fsyncSync(this.fd)
  }

  /** Rewrites the file with only the open jobs (atomically: a crash keeps the old file whole). */
  private compact(): void {
    this.close()
    const text = [...this.open.values()].map((a) => `${JSON.stringify({ a })}\n`).join('')
    mkdirSync(dirname(this.path), { recursive: true })
    writeFileAtomic.sync(this.path, text, { fsync: true, mode: 0o600 })
    this.marks = 0
  }
}
