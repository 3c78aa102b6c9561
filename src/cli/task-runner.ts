// What a sync command sets up around its tasks and tears down after: the run context (records,
// registries, caches), the progress view (terminal only), Ctrl-C handling; then the summary, the
// exit code and the --json document.
import { parsePlatform } from '../copy/platforms.js'
import type { ItemRecord, TaskRecord } from '../records/types.js'
import type { RegistryApi } from '../registry/api.js'
import type { Location } from '../registry/location.js'
import type { RegistryPool } from '../sync/registries.js'
import { createRunContext, type RunContext } from '../sync/run-context.js'
import { runTask } from '../sync/run-task.js'
import type { TaskDefinition, TaskListener } from '../sync/task.js'
import { ProgressView } from '../ui/progress.js'
import { renderTaskSummary, summaryLine } from '../ui/task-view.js'
import { adhocEndpoint } from './endpoints.js'
import { exitCodeForTask } from './exit-codes.js'
import type { EndpointFlagValues } from './flags.js'
import { allOf, RunningTasks } from './interrupt.js'
import type { Settings } from './settings.js'
import { abortOnSignals } from './signals.js'

/** The --json document of a task: the same field names as the records. */
export interface TaskJson {
  task: TaskRecord
  items: ItemRecord[]
  excluded?: { source: string; tag: string; reason: string }[]
}

export interface CommandRunOptions {
  json: boolean
  recordsPath?: string
  fullCheck?: boolean
  /** requests in flight per registry (--concurrency) */
  concurrency?: number
  /** --limit-rate, bytes per second */
  limitRate?: number
}

/**
 * A run context with the terminal's progress view and Ctrl-C handling, for the length of `fn`. The
 * first Ctrl-C clears the progress line for its notice; the second gives the terminal back, writes
 * each running task as interrupted into the records, prints one summary line and exits 130.
 */
export async function withRunContext<T>(
  settings: Settings,
  opts: CommandRunOptions,
  fn: (ctx: RunContext, listener: TaskListener) => Promise<T>,
): Promise<T> {
  const recordsPath = settings.recordsPath(opts.recordsPath)
  const caches = settings.caches(recordsPath)
  const network = settings.network
  const view = new ProgressView({ enabled: !opts.json && process.stderr.isTTY === true })
  const running = new RunningTasks()
  let ctx: RunContext | undefined
  const signals = abortOnSignals({
    stopping: () => view.clear(),
    stoppingNow: (name) => {
      view.abandon()
      for (const result of running.abandon(name)) {
        ctx?.records.append(result.task)
        process.stderr.write(`${summaryLine(result)}\n`)
      }
      ctx?.close()
    },
  })
  ctx = createRunContext({
    recordsPath,
    network,
    caches,
    dockerConfig: settings.dockerConfig,
    fullCheck: opts.fullCheck,
    signal: signals.signal,
    concurrency: opts.concurrency,
    limitRate: opts.limitRate,
    rotation: settings.rotation,
    watch: view,
  })
  try {
    return await fn(ctx, allOf(view, running))
  } finally {
    // The signal handlers stay until the process exits: a Ctrl-C while the summary is printed or
    // the connections close must still exit 130 cleanly, not kill the process by signal.
    view.end()
    ctx.close()
  }
}

/** The run options a sync command's shared flags (taskFlags) ask for. */
export function runOptionsFrom(
  json: boolean,
  flags: {
    verbose: boolean
    records?: string
    'full-check': boolean
    concurrency: number
    'limit-rate'?: number
  },
): CommandRunOptions & { verbose: boolean } {
  return {
    json,
    verbose: flags.verbose,
    recordsPath: flags.records,
    fullCheck: flags['full-check'],
    concurrency: flags.concurrency,
    limitRate: flags['limit-rate'],
  }
}

/** Runs one task with the terminal view, prints the summary, sets the exit code, returns the JSON. */
async function runTaskForCommand(
  settings: Settings,
  define: (pool: RegistryPool) => TaskDefinition,
  opts: CommandRunOptions & { verbose: boolean },
): Promise<TaskJson> {
  const result = await withRunContext(settings, opts, (ctx, listener) =>
    runTask({ ...define(ctx.pool), ...ctx, listener }),
  )
  if (!opts.json) process.stderr.write(`${renderTaskSummary(result, { verbose: opts.verbose })}\n`)
  process.exitCode = exitCodeForTask(result)
  const out: TaskJson = { task: result.task, items: result.items }
  if (result.excluded.length > 0) out.excluded = result.excluded
  return out
}

/** What an ad-hoc sync command's flags (adhocSyncFlags) hold for its task. */
type AdhocFlagValues = EndpointFlagValues &
  Parameters<typeof runOptionsFrom>[1] & {
    override: boolean
    'dry-run': boolean
    referrers: boolean
    platform?: string[]
  }

/** The two registries of an ad-hoc task, reached as the flags say, made when the plan first asks. */
export interface AdhocRegistries {
  src(): RegistryApi
  dst(): RegistryApi
}

/**
 * Runs the one task of `sync tag` or `sync repo` from SRC to DST: the endpoints and the task fields
 * that every ad-hoc command takes the same way from its arguments and flags, and from `define` the
 * plan (and any field of its own).
 */
export function runAdhocTask(
  settings: Settings,
  json: boolean,
  args: { src: string; dst: string },
  flags: AdhocFlagValues,
  where: { src: Location; dst: Location },
  define: (registries: AdhocRegistries) => Pick<TaskDefinition, 'plan'> & Partial<TaskDefinition>,
): Promise<TaskJson> {
  const srcEndpoint = adhocEndpoint('src', where.src, flags, settings)
  const dstEndpoint = adhocEndpoint('dst', where.dst, flags, settings)
  return runTaskForCommand(
    settings,
    (pool) => ({
      trigger: 'manual',
      source: args.src,
      target: args.dst,
      override: flags.override,
      dryRun: flags['dry-run'],
      concurrency: flags.concurrency,
      referrers: flags.referrers,
      platforms: flags.platform?.map(parsePlatform),
      ...define({ src: () => pool.get(srcEndpoint), dst: () => pool.get(dstEndpoint) }),
    }),
    runOptionsFrom(json, flags),
  )
}
