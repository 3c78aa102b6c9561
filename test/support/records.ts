import type { TaskRecord } from '../../src/records/types.js'

/**
 * A task record as the records file holds it: a manual task of one repository that succeeded with
 * nothing to do. `over` sets what a test is about.
 */
export function taskRecord(over: Partial<TaskRecord> = {}): TaskRecord {
  return {
    type: 'task',
    taskId: 't-1',
    status: 'succeeded',
    trigger: 'manual',
    source: 'src.example/app',
    target: 'dst.example/app',
    dryRun: false,
    startedAt: new Date(0).toISOString(),
    durationMs: 0,
    repositories: 1,
    items: 0,
    synced: 0,
    skipped: 0,
    failed: 0,
    successRate: 1,
    bytes: 0,
    ...over,
  }
}
