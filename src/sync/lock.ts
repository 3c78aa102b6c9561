import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { withFileLock } from '../file-lock.js'

/**
 * Where a rule's run lock lives: one per rule name (and shard: workers of one rule on disjoint
 * shards may run at once), shared by every process using `lockDir`.
 */
export function ruleLockPath(lockDir: string, rule: string, shard?: string): string {
  return join(lockDir, shard ? `rule-${rule}.shard-${shard.replace('/', '-of-')}` : `rule-${rule}`)
}

/**
 * Runs fn while holding the rule's lock, so a schedule and a manual trigger of the same rule never
 * overlap. With waitMs 0 a held lock fails at once with LOCKED. A crashed holder's lock goes stale.
 * `signal` ends the wait with INTERRUPTED; `onWait` is told once when the wait begins.
 */
export async function withRuleLock<T>(
  lockDir: string,
  rule: string,
  waitMs: number,
  fn: () => Promise<T>,
  opts: { shard?: string; signal?: AbortSignal; onWait?: () => void } = {},
): Promise<T> {
  const { shard } = opts
  await mkdir(lockDir, { recursive: true })
  return withFileLock(ruleLockPath(lockDir, rule, shard), fn, {
    timeoutMs: waitMs,
    busy: `rule "${rule}"${shard ? ` (shard ${shard})` : ''} is already running`,
    signal: opts.signal,
    onWait: opts.onWait,
  })
}
