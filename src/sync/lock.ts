import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { withFileLock } from '../file-lock.js'

/** Where a rule's run lock lives: one lock per rule name, shared by every process using `lockDir`. */
export function ruleLockPath(lockDir: string, rule: string): string {
  return join(lockDir, `rule-${rule}`)
}

/**
 * Runs fn while holding the rule's lock, so a schedule and a manual trigger of the same rule never
 * overlap. With waitMs 0 a held lock fails at once with LOCKED. A crashed holder's lock goes stale.
 */
export async function withRuleLock<T>(
  lockDir: string,
  rule: string,
  waitMs: number,
  fn: () => Promise<T>,
): Promise<T> {
  await mkdir(lockDir, { recursive: true })
  return withFileLock(ruleLockPath(lockDir, rule), fn, {
    timeoutMs: waitMs,
    busy: `rule "${rule}" is already running`,
  })
}
