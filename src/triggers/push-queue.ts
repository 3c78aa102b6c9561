// The queue of push jobs of `serve`: bounded, coalescing (a push of a tag that is already queued
// joins that job; one of the digest being synced right now brings nothing new), journalled (an
// accepted job survives a stop or a crash), retried with backoff while a registry is down, and
// drained within a grace period on SIGTERM.
import pLimit from 'p-limit'
import type { PushJob, PushJournal } from './journal.js'

/** What became of one run of a job. */
export type JobOutcome = 'done' | 'retry' | 'interrupted'

export interface PushQueueOptions {
  /** jobs running at once */
  workers: number
  journal: PushJournal
  /** runs a job: its rule's task for the pushed tag */
  run: (job: PushJob) => Promise<JobOutcome>
  /** how long a job whose registry is down keeps being retried (ms since it was accepted) */
  retryForMs: number
  /** jobs waiting (queued or for a retry) before webhooks are answered 503 */
  maxQueued: number
  say: (line: string) => void
}

const FIRST_RETRY_MS = 2_000
const MAX_RETRY_MS = 60_000

function key(job: PushJob): string {
  return `${job.rule}\n${job.repository}\n${job.tag}`
}

export class PushQueue {
  private readonly limit: ReturnType<typeof pLimit>
  /** queued and not started, by rule, repository and tag */
  private readonly waiting = new Map<string, PushJob>()
  /** the digest each running job syncs, by rule, repository and tag */
  private readonly syncing = new Map<string, string | undefined>()
  private readonly retries = new Map<string, { timer: NodeJS.Timeout; job: PushJob }>()
  private readonly attempts = new Map<string, number>()
  private readonly work = new Set<Promise<void>>()
  private closed = false

  constructor(private readonly opts: PushQueueOptions) {
    this.limit = pLimit(Math.max(1, opts.workers))
  }

  get running(): number {
    return this.limit.activeCount
  }

  /** queued, plus waiting for a retry */
  get queued(): number {
    return this.limit.pendingCount + this.retries.size
  }

  get accepts(): boolean {
    return !this.closed && this.queued < this.opts.maxQueued
  }

  /**
   * Takes new jobs: each joins a queued job of the same tag, is dropped when the same digest is
   * being synced now, or is journalled (durably, before this returns) and queued.
   */
  add(jobs: PushJob[]): ('queued' | 'coalesced')[] {
    const fresh: PushJob[] = []
    const results = jobs.map((job) => {
      const waiting = this.waiting.get(key(job))
      if (waiting) {
        // the queued job has not looked at the tag yet: it syncs this newer push instead
        waiting.digest = job.digest
        return 'coalesced' as const
      }
      const now = this.syncing.get(key(job))
      if (job.digest !== undefined && this.syncing.has(key(job)) && now === job.digest)
        return 'coalesced' as const
      this.waiting.set(key(job), job)
      fresh.push(job)
      return 'queued' as const
    })
    this.opts.journal.accept(fresh)
    for (const job of fresh) this.schedule(job)
    return results
  }

  /** Jobs the journal held at start: queued again as they were. */
  replay(jobs: PushJob[]): void {
    for (const job of jobs) {
      this.waiting.set(key(job), job)
      this.schedule(job)
    }
  }

  private schedule(job: PushJob): void {
    const p = this.limit(() => this.runOne(job))
    this.work.add(p)
    void p.finally(() => this.work.delete(p))
  }

  private async runOne(job: PushJob): Promise<void> {
    if (this.closed) return // stays in the journal, run again at the next start
    if (this.waiting.get(key(job)) === job) this.waiting.delete(key(job))
    this.syncing.set(key(job), job.digest)
    let outcome: JobOutcome
    try {
      outcome = await this.opts.run(job)
    } finally {
      if (this.syncing.get(key(job)) === job.digest) this.syncing.delete(key(job))
    }
    if (outcome === 'done') {
      this.attempts.delete(job.id)
      this.opts.journal.done(job.id)
      this.wakeRetries(job.rule)
    } else if (outcome === 'retry') this.retryLater(job)
  }

  /** A job of `rule` got through: its registries are back, so the rule's waiting retries go now. */
  private wakeRetries(rule: string): void {
    for (const [id, { timer, job }] of this.retries) {
      if (job.rule !== rule) continue
      clearTimeout(timer)
      this.retries.delete(id)
      this.schedule(job)
    }
  }

  /** A registry was down: try again after a growing wait, while the job is young enough. */
  private retryLater(job: PushJob): void {
    const n = (this.attempts.get(job.id) ?? 0) + 1
    if (Date.now() - job.at > this.opts.retryForMs) {
      this.opts.say(
        `push ${job.repository}:${job.tag} (rule ${job.rule}): still failing; giving up after ${n} tries`,
      )
      this.attempts.delete(job.id)
      this.opts.journal.done(job.id)
      return
    }
    this.attempts.set(job.id, n)
    const wait = Math.min(FIRST_RETRY_MS * 2 ** (n - 1), MAX_RETRY_MS) * (0.75 + Math.random() * 0.5)
    const timer = setTimeout(() => {
      this.retries.delete(job.id)
      if (!this.closed) this.schedule(job)
    }, wait)
    this.retries.set(job.id, { timer, job })
  }

  /**
   * SIGTERM: takes no new jobs and waits up to `graceMs` for the queue to empty; then `interrupt`
   * stops what still runs. Jobs not finished stay in the journal for the next start; `unstarted`
   * are those that never began (or waited for a retry).
   */
  async drain(graceMs: number, interrupt: () => void): Promise<{ left: number; unstarted: PushJob[] }> {
    const deadline = Date.now() + graceMs
    while (this.work.size > 0 && Date.now() < deadline) {
      await Promise.race([Promise.allSettled([...this.work]), new Promise((r) => setTimeout(r, 100))])
    }
    this.closed = true
    const unstarted = [...this.retries.values()].map((r) => r.job)
    for (const { timer } of this.retries.values()) clearTimeout(timer)
    this.retries.clear()
    interrupt()
    await Promise.allSettled([...this.work])
    unstarted.push(...this.waiting.values())
    this.waiting.clear()
    this.opts.journal.close()
    return { left: this.opts.journal.pending, unstarted }
  }
}
