import chalk from 'chalk'
import cliProgress from 'cli-progress'
import type { ItemRecord, TaskRecord } from '../records/types.js'
import type { Plan } from '../sync/plan.js'
import type { TaskListener, TaskResult } from '../sync/task.js'
import { formatBytes } from '../text.js'

export { formatBytes }

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`
  return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`
}

/** A progress bar on stderr, only when stderr is a terminal and output is not JSON. */
export class ProgressView implements TaskListener {
  private bar: cliProgress.SingleBar | undefined
  private moved = 0

  constructor(private readonly enabled: boolean) {}

  planned(plan: Plan): void {
    if (!this.enabled || plan.items.length === 0) return
    this.bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: ' {bar} {value}/{total} images | {moved} | {last}',
        hideCursor: true,
        clearOnComplete: true,
        barsize: 24,
      },
      cliProgress.Presets.shades_classic,
    )
    this.bar.start(plan.items.length, 0, { moved: formatBytes(0), last: '' })
  }

  bytes(delta: number): void {
    this.moved += delta
    this.bar?.update({ moved: formatBytes(this.moved) })
  }

  itemDone(item: ItemRecord): void {
    this.bar?.increment(1, { last: `${item.tag} ${item.status}` })
  }

  taskDone(_task: TaskRecord): void {
    this.bar?.stop()
  }
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

/** The human summary of a task: one line per item that needs attention, then totals. */
export function renderTaskSummary(result: TaskResult, opts: { verbose: boolean }): string {
  const { task, items, excluded } = result
  const lines: string[] = []
  for (const item of items) {
    if (!opts.verbose && item.status !== 'failed' && !task.dryRun) continue
    const colour = statusColour[item.status] ?? ((s: string) => s)
    const detail = item.code ? `${item.code}: ${item.message}` : (item.reason ?? '')
    lines.push(
      `  ${colour(item.status.padEnd(8))} ${item.source} → ${item.target}${detail ? `  ${chalk.dim(detail)}` : ''}`,
    )
  }
  if (task.dryRun || opts.verbose) {
    for (const ex of excluded)
      lines.push(`  ${chalk.dim('excluded'.padEnd(8))} ${ex.source}  ${chalk.dim(ex.reason)}`)
  }
  const head = task.dryRun ? chalk.cyan('dry run') : taskColour(task.status)(task.status)
  const planned = items.filter((i) => i.status === 'planned').length
  const counts = task.dryRun
    ? `${planned} to copy, ${task.skipped} up to date, ${task.failed} would fail`
    : `${task.synced} synced, ${task.skipped} skipped, ${task.failed} failed`
  let tail = `${head}: ${counts}`
  if (!task.dryRun) tail += `, ${formatBytes(task.bytes)} in ${formatDuration(task.durationMs)}`
  if (task.code && task.status === 'failed') tail += ` — ${task.code}: ${task.message}`
  lines.push(`${tail}  ${chalk.dim(`task ${task.taskId}`)}`)
  return lines.join('\n')
}
