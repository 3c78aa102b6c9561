import { Flags } from '@oclif/core'
import { type ErrorCode, ExitCodes, exitCodeFor } from './errors.js'
import { RecordWriter, resolveRecordsPath } from './records/store.js'
import type { ItemRecord, TaskRecord } from './records/types.js'
import type { Credentials } from './registry/auth.js'
import { runTask, type TaskResult, type TaskSpec } from './sync/run-task.js'
import { ProgressView, renderTaskSummary } from './ui/task-view.js'

/** The rule file location, for every command that reads or edits it. */
export const configFlag = {
  config: Flags.string({
    char: 'c',
    summary: 'Rule file (default $IMGSYNC_CONFIG or ./imgsync.yaml).',
    helpValue: 'FILE',
  }),
}

/** Flags shared by every command that runs a sync task. */
export const taskFlags = {
  override: Flags.boolean({
    summary:
      'Replace a target tag that points at a different digest (otherwise the item fails with IMAGE_EXISTS).',
  }),
  'dry-run': Flags.boolean({ summary: 'Show what would be copied, skipped or refused, and change nothing.' }),
  concurrency: Flags.integer({
    summary: 'Images and blob transfers in flight at once.',
    default: 8,
    min: 1,
    max: 64,
  }),
  records: Flags.string({
    summary: 'Records file to append to (default $IMGSYNC_RECORDS or ~/.local/state/imgsync/records.jsonl).',
    helpValue: 'FILE',
  }),
  verbose: Flags.boolean({ char: 'v', summary: 'List every item in the summary, not only failures.' }),
}

/** The --json document of a task: the same field names as the records. */
export interface TaskJson {
  task: TaskRecord
  items: ItemRecord[]
  excluded?: { source: string; tag: string; reason: string }[]
}

/** Ad-hoc credentials come from the environment, never from the command line. */
export function envCredentials(
  side: 'SRC' | 'DST',
  env: NodeJS.ProcessEnv = process.env,
): Credentials | undefined {
  const username = env[`IMGSYNC_${side}_USERNAME`]
  const password = env[`IMGSYNC_${side}_PASSWORD`]
  if (!username) return undefined
  return { username, password }
}

export function exitCodeForTask(result: TaskResult): number {
  const { task } = result
  if (task.status === 'interrupted') return ExitCodes.interrupted
  if (task.status === 'failed' && task.code) return exitCodeFor(task.code as ErrorCode)
  if (task.failed > 0) return ExitCodes.failed
  if (task.items === 0) return ExitCodes.nothingMatched
  return ExitCodes.ok
}

/**
 * SIGINT/SIGTERM abort the running task: no new items start, in-flight ones get a short grace,
 * the rest are recorded `interrupted`, and the command exits 130. A second signal exits at once.
 */
export function abortOnSignals(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController()
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(ExitCodes.interrupted)
    process.stderr.write(
      `imgsync: ${name}: stopping; in-flight images get a few seconds (${name} again stops now)\n`,
    )
    controller.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    },
  }
}

/** Runs a task with the terminal view, prints the summary, sets the exit code, returns the JSON. */
export async function runTaskForCommand(
  spec: Omit<TaskSpec, 'records' | 'listener' | 'signal'>,
  opts: { json: boolean; verbose: boolean; recordsPath?: string },
): Promise<TaskJson> {
  const records = new RecordWriter(resolveRecordsPath(opts.recordsPath))
  const view = new ProgressView(!opts.json && process.stderr.isTTY === true)
  const signals = abortOnSignals()
  let result: TaskResult
  try {
    result = await runTask({ ...spec, records, listener: view, signal: signals.signal })
  } finally {
    signals.dispose()
    records.close()
  }
  if (!opts.json) process.stderr.write(`${renderTaskSummary(result, { verbose: opts.verbose })}\n`)
  process.exitCode = exitCodeForTask(result)
  const out: TaskJson = { task: result.task, items: result.items }
  if (result.excluded.length > 0) out.excluded = result.excluded
  return out
}
