// One task, as small named steps: plan, record what failed while planning, copy, prune, finish.
import { toImgsyncError } from '../errors.js'
import { CopyStep } from './copy-items.js'
import type { Plan } from './plan.js'
import { pruneStale } from './prune.js'
import type { TaskResult, TaskSpec } from './task.js'
import { TaskRecords } from './task-records.js'

export type { TaskListener, TaskResult, TaskSpec } from './task.js'
export { newTaskId } from './task.js'

/**
 * Runs one task: plan, copy every item with bounded concurrency (starting while the planner still
 * lists), write records as it goes.
 */
export async function runTask(spec: TaskSpec): Promise<TaskResult> {
  const run = new TaskRecords(spec)
  const copy = new CopyStep(spec, run)
  let plan: Plan
  try {
    plan = await spec.plan((batch) => copy.add(batch))
  } catch (err) {
    // what started while listing ends (or is cut off) before the task does
    await copy.settle()
    // stopped while listing: the task is interrupted, not failed
    if (spec.signal?.aborted) return run.finish()
    // registry failures arrive as ImgsyncErrors; anything else is a bug in the planner
    return run.finish(toImgsyncError(err, 'INTERNAL'))
  }
  run.planned = true
  run.excluded = plan.excluded
  run.task.repositories = plan.repositories
  run.task.items = plan.items.length + (plan.failures?.length ?? 0)
  spec.listener?.planned?.(plan)
  for (const f of plan.failures ?? []) run.record(run.item(f, { status: 'failed', error: f.error }))
  copy.add(plan)
  await copy.settle()
  if (plan.prune && plan.prune.length > 0) {
    if (spec.signal?.aborted) {
      run.pruneLeft = true
      return run.finish()
    }
    const error = await pruneStale(plan.prune, spec, run)
    if (error) return run.finish(error)
  }
  return run.finish()
}
