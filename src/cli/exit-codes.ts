import { type ErrorCode, ExitCodes, exitCodeFor } from '../errors.js'
import type { TaskResult } from '../sync/task.js'

/** A task's exit code: interrupted, the code of a task that could not run, partial, nothing, ok. */
export function exitCodeForTask(result: TaskResult): number {
  const { task } = result
  if (task.status === 'interrupted') return ExitCodes.interrupted
  if (task.status === 'failed' && task.code) return exitCodeFor(task.code as ErrorCode)
  if (task.failed > 0) return ExitCodes.failed
  if (task.items === 0) return ExitCodes.nothingMatched
  return ExitCodes.ok
}

/**
 * The exit code of several tasks: interrupted, then LOCKED over usage over failure, so CI sees the
 * most useful one. Nothing-matched (3) only when no task had anything to do; an empty shard is
 * normal, so sharded runs exit 0 then.
 */
export function worstExit(codes: number[], sharded: boolean): number {
  const rank = [ExitCodes.interrupted, ExitCodes.locked, ExitCodes.usage, ExitCodes.failed]
  for (const c of rank) if (codes.includes(c)) return c
  const nothing = codes.every((c) => c === ExitCodes.nothingMatched)
  return nothing && !sharded ? ExitCodes.nothingMatched : ExitCodes.ok
}
