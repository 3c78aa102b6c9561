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

/** Item records passing the filter, newest first. */
export function filterItems(records: SyncRecord[], f: RecordFilter): ItemRecord[] {
  const out = records.filter((r): r is ItemRecord => {
    if (r.type !== 'item') return false
    if (f.task && r.taskId !== f.task) return false
    if (f.rule && r.rule !== f.rule) return false
    if (f.repo && !matchesRepo(r, f.repo)) return false
    if (f.tag && r.tag !== f.tag) return false
    if (f.status && r.status !== f.status) return false
    if (f.since !== undefined && Date.parse(r.startedAt) < f.since) return false
    return true
  })
  out.sort((a, b) => b.startedAt.localeCompare(a.startedAt))
  return f.limit ? out.slice(0, f.limit) : out
}

/**
 * One row per task, newest first. A task still running (only its start line) shows the items
 * recorded so far, so progress is visible.
 */
export function summarizeTasks(records: SyncRecord[], f: RecordFilter): TaskRecord[] {
  const tasks = latestTasks(records)
  const progress = new Map<string, { synced: number; skipped: number; failed: number; bytes: number }>()
  for (const r of records) {
    if (r.type !== 'item') continue
    const p = progress.get(r.taskId) ?? { synced: 0, skipped: 0, failed: 0, bytes: 0 }
    if (r.status === 'synced') p.synced++
    else if (r.status === 'skipped') p.skipped++
    else if (r.status === 'failed') p.failed++
    p.bytes += r.bytes
    progress.set(r.taskId, p)
  }
  let rows = [...tasks.values()].map((t) => {
    if (t.status !== 'running') return t
    const p = progress.get(t.taskId)
    if (!p) return t
    const ran = p.synced + p.skipped + p.failed
    return { ...t, ...p, successRate: ran === 0 ? 1 : (p.synced + p.skipped) / ran }
  })
  rows = rows.filter((t) => {
    if (f.task && t.taskId !== f.task) return false
    if (f.rule && t.rule !== f.rule) return false
    if (f.since !== undefined && Date.parse(t.startedAt) < f.since) return false
    return true
  })
  rows.sort((a, b) => b.startedAt.localeCompare(a.startedAt))
  return f.limit ? rows.slice(0, f.limit) : rows
}
