// A second Ctrl-C ends the process at once. What still runs then must not vanish: each running task
// gets its final task line (interrupted, with what it had done) in the records, and one summary line.
import type { ItemRecord, TaskRecord } from '../records/types.js'
import type { TaskListener, TaskResult } from '../sync/task.js'
import { successRate } from '../sync/task-records.js'

/** Follows the tasks of a run (as a listener) so that a forced stop can close them. */
export class RunningTasks implements TaskListener {
  private readonly running = new Map<string, { task: TaskRecord; items: ItemRecord[] }>()

  taskStarted(task: TaskRecord): void {
    this.running.set(task.taskId, { task, items: [] })
  }

  itemDone(item: ItemRecord): void {
    this.running.get(item.taskId)?.items.push(item)
  }

  taskDone(task: TaskRecord): void {
    this.running.delete(task.taskId)
  }

  /** Every task still running, as it ends now: interrupted, with its items so far. */
  abandon(signal: NodeJS.Signals, now = Date.now()): TaskResult[] {
    return [...this.running.values()].map(({ task, items }) => ({
      task: abandonedTask(task, signal, now),
      items: [...items],
      excluded: [],
    }))
  }
}

/** The final line of a task cut off by a second signal (the live record is left as it is). */
export function abandonedTask(task: TaskRecord, signal: NodeJS.Signals, now = Date.now()): TaskRecord {
  return {
    ...task,
    status: 'interrupted',
    code: 'INTERRUPTED',
    message: `stopped at once by a second ${signal}; run the same command again to finish`,
    durationMs: Math.max(0, now - Date.parse(task.startedAt)),
    successRate: successRate({ ...task, status: 'interrupted' }),
  }
}

/** Calls every listener, in order. */
export function allOf(...listeners: TaskListener[]): TaskListener {
  return {
    taskStarted: (t) => {
      for (const l of listeners) l.taskStarted?.(t)
    },
    planned: (p) => {
      for (const l of listeners) l.planned?.(p)
    },
    itemDone: (i) => {
      for (const l of listeners) l.itemDone?.(i)
    },
    bytes: (n) => {
      for (const l of listeners) l.bytes?.(n)
    },
    taskDone: (t) => {
      for (const l of listeners) l.taskDone?.(t)
    },
  }
}
