// One `serve` per state (its records file, with the journal beside it; per shard when sharded): two
// would both process every push and fight over schedules.
// The lock is proper-lockfile's (refreshed while held, stale after a crash); who holds it is written
// beside it, so a second serve can say whom it found.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { dirname } from 'node:path'
import { lock } from 'proper-lockfile'
import { ImgsyncError } from '../errors.js'
import type { Shard } from '../rules/match.js'

const STALE_MS = 10_000

export interface InstanceLock {
  release(): Promise<void>
}

/**
 * Where a serve keeps its state beside the records (`<base>.journal`, `<base>.serve`): the shards of
 * one rule file may share a records file, each with its own journal and lock.
 */
export function serveStateBase(recordsPath: string, shard?: Shard): string {
  return shard ? `${recordsPath}.shard-${shard.index}-of-${shard.count}` : recordsPath
}

/** Takes the state for this serve, or fails with LOCKED naming the serve that has it. */
export async function holdServeLock(
  stateBase: string,
  recordsPath: string,
  listen: string,
): Promise<InstanceLock> {
  const file = `${stateBase}.serve`
  const holderFile = `${stateBase}.serve.holder`
  mkdirSync(dirname(recordsPath), { recursive: true })
  let release: () => Promise<void>
  try {
    release = await lock(file, {
      realpath: false,
      lockfilePath: `${file}.lock`,
      stale: STALE_MS,
      update: STALE_MS / 4,
      retries: 0,
      onCompromised: () => {
        // taken over as stale (this process stalled for seconds): keep serving; it is rare and visible
      },
    })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err
    let holder = 'another imgsync serve'
    try {
      const h = JSON.parse(readFileSync(holderFile, 'utf8')) as {
        pid: number
        host: string
        since: string
        listen: string
      }
      holder = `imgsync serve pid ${h.pid} on ${h.host} (listening on ${h.listen} since ${h.since})`
    } catch {
      // no details: the lock alone says someone serves
    }
    throw new ImgsyncError(
      'LOCKED',
      `${holder} already serves with the records ${recordsPath}; this one does not start`,
      {
        suggestions: [
          'run one serve per state (Kubernetes: replicas: 1, strategy: Recreate), or give this one its own --records',
          `a crashed holder's lock clears within ${STALE_MS / 1000}s`,
        ],
      },
    )
  }
  writeFileSync(
    holderFile,
    JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString(), listen }),
  )
  return { release: () => release().catch(() => undefined) }
}
