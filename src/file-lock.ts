import { setTimeout as sleep } from 'node:timers/promises'
import { lock } from 'proper-lockfile'
import { ImgsyncError } from './errors.js'

// An exclusive, cross-process lock on a file: proper-lockfile's `FILE.lock` directory (mkdir is
// atomic, also on NFS), refreshed while held and taken over once stale, so a crashed holder does
// not block everyone for ever.

export interface FileLockOptions {
  /** how long to wait for another holder before failing with LOCKED */
  timeoutMs?: number
  /** a lock not refreshed for this long is considered abandoned */
  staleMs?: number
  /** what holds the lock, for the LOCKED message, e.g. `rule "app" is already running` */
  busy?: string
  /** stops the wait (a Ctrl-C while another process holds the lock): INTERRUPTED */
  signal?: AbortSignal
  /** told once, when the lock is found held and the wait begins (not with timeoutMs 0) */
  onWait?: () => void
}

export interface HeldLock {
  /** throws LOCKED if the lock was lost (taken over as stale) while held: then do not write */
  assertHeld(): void
}

export async function withFileLock<T>(
  file: string,
  fn: (lock: HeldLock) => Promise<T>,
  options: FileLockOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000
  const staleMs = Math.max(options.staleMs ?? 10_000, 2_000)
  const lockfilePath = `${file}.lock`
  const deadline = Date.now() + timeoutMs
  let compromised: Error | undefined
  let release: () => Promise<void>
  let waiting = false
  for (;;) {
    try {
      release = await lock(file, {
        realpath: false,
        lockfilePath,
        stale: staleMs,
        update: staleMs / 4,
        retries: 0,
        // The default throws from a timer and kills the process; record it and refuse to write instead.
        onCompromised: (err) => {
          compromised = err
        },
      })
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') {
        const reason = err instanceof Error ? err.message : String(err)
        throw new ImgsyncError('CONFIG_INVALID', `cannot lock ${file}: ${reason}`, { cause: err })
      }
      if (Date.now() >= deadline) {
        throw new ImgsyncError(
          'LOCKED',
          `${options.busy ?? `${file} is being edited by another imgsync process`} (lock ${lockfilePath})`,
          {
            cause: err,
            suggestions: [
              `if no imgsync is running, the lock clears by itself within ${Math.ceil(staleMs / 1000)}s`,
            ],
          },
        )
      }
      if (!waiting) {
        waiting = true
        options.onWait?.()
      }
      // Jitter, so that waiting processes do not retry in lockstep.
      await sleep(15 + Math.random() * 35, undefined, { signal: options.signal }).catch(() => undefined)
      if (options.signal?.aborted) {
        throw new ImgsyncError('INTERRUPTED', `stopped while waiting: ${options.busy ?? `${file} is locked`}`)
      }
    }
  }
  const held: HeldLock = {
    assertHeld() {
      if (compromised) {
        throw new ImgsyncError(
          'LOCKED',
          `lost the lock on ${file} while holding it (${compromised.message}); nothing was written`,
          {
            cause: compromised,
          },
        )
      }
    },
  }
  try {
    return await fn(held)
  } finally {
    await release().catch(() => undefined)
  }
}
