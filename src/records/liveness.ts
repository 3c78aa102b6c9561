// A task line that still says "running" may belong to a process that died without a word (kill -9,
// a power cut). Tasks record the process and host that ran them; on the same host a process that
// is gone means the task was abandoned.
import { hostname } from 'node:os'
import type { TaskRecord } from './types.js'

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists, it is just not ours to signal
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The task as `records` shows it: `abandoned` when it is "running" but its process is gone. */
export function withLiveness(task: TaskRecord): TaskRecord {
  if (task.status !== 'running' || task.pid === undefined || task.host !== hostname()) return task
  if (task.pid === process.pid || alive(task.pid)) return task
  return {
    ...task,
    status: 'abandoned',
    code: 'INTERRUPTED',
    message: `the process that ran it (pid ${task.pid}) is gone; run the same command again to finish`,
  }
}

/** Who is running a task, for the task line. */
export function runner(): { pid: number; host: string } {
  return { pid: process.pid, host: hostname() }
}
