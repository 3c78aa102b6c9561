import { ImgsyncError } from '../errors.js'
import type { ItemRecord, ItemStatus, SyncRecord, TaskRecord } from './types.js'

// Pure queries over records: no I/O, and `now` is passed in.

export interface RecordFilter {
  task?: string
  rule?: string
  repo?: string
  tag?: string
  status?: ItemStatus
  /** only records started at or after this time (ms since epoch) */
  since?: number
  limit?: number
}

/** `24h`, `30m`, `7d`, `90s` before now, or an ISO date/time. */
export function parseSince(text: string, now: number): number {
  const rel = /^(\d+)\s*([smhdw])$/.exec(text.trim())
  if (rel) {
    const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 604800e3 }[
      rel[2] as 's' | 'm' | 'h' | 'd' | 'w'
    ]
    return now - Number(rel[1]) * unit
  }
  // only ISO dates: Date.parse('1') would read as the year 2001
  const t = /^\d{4}-\d{2}-\d{2}/.test(text.trim()) ? Date.parse(text) : Number.NaN
  if (Number.isNaN(t)) {
    throw new ImgsyncError(
      'INVALID_ARGUMENT',
      `--since "${text}": expected a duration like 24h, 30m, 7d or an ISO time`,
    )
  }
  return t
}

/** The latest line of each task wins: a task is written when it starts and again when it ends. */
export function latestTasks(records: SyncRecord[]): Map<string, TaskRecord> {
  const tasks = new Map<string, TaskRecord>()
  for (const r of records) if (r.type === 'task') tasks.set(r.taskId, r)
  return tasks
}

function matchesRepo(item: ItemRecord, repo: string): boolean {
  return item.repository === repo || item.source.includes(`/${repo}:`) || item.target.includes(`/${repo}:`)
}

/** `"key":"value"` as JSON.stringify writes it, to rule a line out before parsing it. */
function needle(key: string, value: string | undefined): string | undefined {
  return value === undefined ? undefined : `${JSON.stringify(key)}:${JSON.stringify(value)}`
}

/** Keeps the newest `limit` of what it is given (by startedAt), in bounded memory. */
class Newest<T extends { startedAt: string }> {
  private kept: T[] = []
  constructor(private readonly limit: number | undefined) {}
  add(r: T): void {
    this.kept.push(r)
    if (this.limit && this.kept.length >= 2 * this.limit + 64) this.trim()
  }
  result(): T[] {
    this.trim()
    return this.kept
  }
  private trim(): void {
    this.kept.sort((a, b) => b.startedAt.localeCompare(a.startedAt))
    if (this.limit && this.kept.length > this.limit) this.kept = this.kept.slice(0, this.limit)
  }
}

/** Item records passing the filter, newest first; fed one record at a time (streaming). */
export class ItemQuery {
  private readonly newest: Newest<ItemRecord>
  private readonly needles: string[]

  constructor(private readonly f: RecordFilter) {
    this.newest = new Newest(f.limit)
    this.needles = [
      needle('taskId', f.task),
      needle('rule', f.rule),
      needle('tag', f.tag),
      needle('status', f.status),
    ]
      .concat(f.repo === undefined ? [] : [f.repo])
      .filter((n): n is string => n !== undefined)
  }

  /** Whether a raw line may hold a matching item (records are written type first). */
  wants(line: string): boolean {
    return line.startsWith('{"type":"item"') && this.needles.every((n) => line.includes(n))
  }

  add(r: SyncRecord): void {
    const f = this.f
    if (r.type !== 'item') return
    if (f.task && r.taskId !== f.task) return
    if (f.rule && r.rule !== f.rule) return
    if (f.repo && !matchesRepo(r, f.repo)) return
    if (f.tag && r.tag !== f.tag) return
    if (f.status && r.status !== f.status) return
    if (f.since !== undefined && Date.parse(r.startedAt) < f.since) return
    this.newest.add(r)
  }

  result(): ItemRecord[] {
    return this.newest.result()
  }
}

type Progress = { synced: number; skipped: number; failed: number; bytes: number }

/**
 * One row per task, newest first; fed one record at a time (streaming), keeping only the newest
 * tasks the limit allows. A task still running (only its start line) shows the items recorded so
 * far, so progress is visible.
 */
export class TaskSummary {
  private readonly tasks = new Map<string, TaskRecord>()
  private readonly progress = new Map<string, Progress>()

  constructor(private readonly f: RecordFilter) {}

  /** Task lines, and the item lines of tasks still running (their progress). */
  wants(line: string): boolean {
    if (line.startsWith('{"type":"task"')) return true
    if (!line.startsWith('{"type":"item"')) return false
    const at = line.indexOf('"taskId":"')
    if (at < 0) return false
    const id = line.slice(at + 10, line.indexOf('"', at + 10))
    return this.tasks.get(id)?.status === 'running'
  }

  add(r: SyncRecord): void {
    if (r.type === 'task') {
      if (!this.inFilter(r)) return
      this.tasks.set(r.taskId, r)
      if (this.f.limit && this.tasks.size >= 2 * this.f.limit + 64) this.prune()
      return
    }
    const task = this.tasks.get(r.taskId)
    if (task?.status !== 'running') return
    const p = this.progress.get(r.taskId) ?? { synced: 0, skipped: 0, failed: 0, bytes: 0 }
    if (r.status === 'synced') p.synced++
    else if (r.status === 'skipped') p.skipped++
    else if (r.status === 'failed') p.failed++
    p.bytes += r.bytes
    this.progress.set(r.taskId, p)
  }

  result(): TaskRecord[] {
    this.prune()
    const rows = [...this.tasks.values()].map((t) => {
      if (t.status !== 'running') return t
      // a running task's rate is of the items that ended so far; none ended is no 100%
      const p = this.progress.get(t.taskId) ?? { synced: 0, skipped: 0, failed: 0, bytes: t.bytes }
      const ran = p.synced + p.skipped + p.failed
      return { ...t, ...p, successRate: ran === 0 ? 0 : (p.synced + p.skipped) / ran }
    })
    rows.sort((a, b) => b.startedAt.localeCompare(a.startedAt))
    return this.f.limit ? rows.slice(0, this.f.limit) : rows
  }

  private inFilter(t: TaskRecord): boolean {
    const f = this.f
    if (f.task && t.taskId !== f.task) return false
    if (f.rule && t.rule !== f.rule) return false
    return !(f.since !== undefined && Date.parse(t.startedAt) < f.since)
  }

  /** Only the newest `limit` tasks can be shown: forget the older ones (a later line re-adds them). */
  private prune(): void {
    if (!this.f.limit || this.tasks.size <= this.f.limit) return
    const order = [...this.tasks.values()].sort((a, b) => b.startedAt.localeCompare(a.startedAt))
    for (const t of order.slice(this.f.limit)) {
      this.tasks.delete(t.taskId)
      this.progress.delete(t.taskId)
    }
  }
}

/** Item records passing the filter, newest first. */
export function filterItems(records: SyncRecord[], f: RecordFilter): ItemRecord[] {
  const q = new ItemQuery(f)
  for (const r of records) q.add(r)
  return q.result()
}

/** One row per task, newest first (see TaskSummary). */
export function summarizeTasks(records: SyncRecord[], f: RecordFilter): TaskRecord[] {
  const q = new TaskSummary(f)
  for (const r of records) q.add(r)
  return q.result()
}
