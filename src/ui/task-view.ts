import chalk from 'chalk'
import type { ItemRecord, TaskRecord } from '../records/types.js'
import type { Exclusion } from '../sync/plan.js'
import type { TaskResult } from '../sync/task.js'
import { formatBytes } from '../text.js'

export { formatBytes }

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`
  return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`
}

const statusColour: Record<string, (s: string) => string> = {
  synced: chalk.green,
  skipped: chalk.dim,
  planned: chalk.cyan,
  excluded: chalk.dim,
  failed: chalk.red,
  interrupted: chalk.yellow,
  deleted: chalk.magenta,
}

function taskColour(status: TaskRecord['status']): (s: string) => string {
  if (status === 'succeeded') return chalk.green
  if (status === 'partial' || status === 'interrupted') return chalk.yellow
  return chalk.red
}

/** Why nothing was copied: how many tags there were, and which filter left them out. */
export function nothingMatched(task: TaskRecord, excluded: Exclusion[]): string {
  const repos = task.repositories
  if (repos === 0) return `nothing matched: no repository of ${task.source} is one the rule copies`
  const where = repos === 1 ? task.source : `the ${repos} repositories of ${task.source}`
  const have = repos === 1 ? 'has' : 'have'
  if (excluded.length === 0) return `nothing matched: ${where} ${have} no tags`
  const groups = new Map<string, number>()
  for (const e of excluded) {
    const why = e.detail ?? e.reason
    groups.set(why, (groups.get(why) ?? 0) + 1)
  }
  const why = [...groups].map(([text, n]) => `${text}: ${n}`).join('; ')
  const tags = excluded.length === 1 ? '1 tag' : `${excluded.length} tags`
  return `nothing matched: ${where} ${have} ${tags}, and none passes the filters (${why})`
}

function itemLine(item: ItemRecord): string {
  const colour = statusColour[item.status] ?? ((s: string) => s)
  const detail = item.code ? `${item.code}: ${item.message}` : (item.reason ?? '')
  return `  ${colour(item.status.padEnd(8))} ${item.source} → ${item.target}${detail ? `  ${chalk.dim(detail)}` : ''}`
}

/** The totals line: what happened, in words, then the task id. */
export function summaryLine(result: TaskResult): string {
  const { task, items, excluded } = result
  const id = chalk.dim(`task ${task.taskId}`)
  if (task.items === 0 && task.status !== 'failed' && task.status !== 'interrupted')
    return `${chalk.yellow(nothingMatched(task, excluded))}  ${id}`
  const head = task.dryRun ? chalk.cyan('dry run') : taskColour(task.status)(task.status)
  const planned = items.filter((i) => i.status === 'planned').length
  // cut off, or (a forced stop) never recorded at all
  const unfinished =
    items.filter((i) => i.status === 'interrupted').length + Math.max(0, task.items - items.length)
  let counts = task.dryRun
    ? `${planned} to copy, ${task.skipped} up to date, ${task.failed} would fail`
    : `${task.synced} synced, ${task.skipped} skipped, ${task.failed} failed`
  if (unfinished > 0) counts += `, ${unfinished} not finished`
  let tail = `${head}: ${counts}`
  if (!task.dryRun) tail += `, ${formatBytes(task.bytes)} in ${formatDuration(task.durationMs)}`
  if (task.code && task.status === 'failed') tail += ` — ${task.code}: ${task.message}`
  else if (task.message) tail += ` — ${task.message}`
  return `${tail}  ${id}`
}

/** The human summary of a task: one line per item that needs attention, then totals. */
export function renderTaskSummary(result: TaskResult, opts: { verbose: boolean }): string {
  const { task, items, excluded } = result
  const lines: string[] = []
  for (const item of items) {
    if (!opts.verbose && item.status !== 'failed' && !task.dryRun) continue
    lines.push(itemLine(item))
  }
  if (task.dryRun || opts.verbose) {
    for (const ex of excluded)
      lines.push(`  ${chalk.dim('excluded'.padEnd(8))} ${ex.source}  ${chalk.dim(ex.detail ?? ex.reason)}`)
  }
  lines.push(summaryLine(result))
  return lines.join('\n')
}
