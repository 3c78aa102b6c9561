import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ImgsyncError } from '../../src/errors.js'
import { withFileLock } from '../../src/file-lock.js'
import { ruleLockPath, withRuleLock } from '../../src/sync/lock.js'
import { rejection } from '../support/rejection.js'

let dir: string
let lockDir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'imgsync-lock-'))
  lockDir = join(dir, 'locks')
})
afterEach(() => {
  rmSync(dir, { recursive: true, force: true })
})

/**
 * Takes a lock through `take` and holds it until the returned release() is called; resolves as soon
 * as the lock is held.
 */
async function hold(take: (fn: () => Promise<void>) => Promise<unknown>): Promise<() => Promise<void>> {
  let open!: () => void
  const released = new Promise<void>((r) => {
    open = r
  })
  let taken!: () => void
  const held = new Promise<void>((r) => {
    taken = r
  })
  const holder = take(() => {
    taken()
    return released
  })
  await Promise.race([held, holder])
  return async () => {
    open()
    await holder
  }
}

describe('withRuleLock', () => {
  it('runs fn holding the lock (creating the lock directory) and returns its value', async () => {
    const lockFile = `${ruleLockPath(lockDir, 'nightly')}.lock`
    const out = await withRuleLock(lockDir, 'nightly', 0, async () => {
      expect(existsSync(lockFile)).toBe(true)
      return 42
    })
    expect(out).toBe(42)
    expect(existsSync(lockFile)).toBe(false)
    expect(ruleLockPath('/l', 'a')).toBe(join('/l', 'rule-a'))
  })

  it('a second run of the same rule fails LOCKED at once while the first holds it', async () => {
    const release = await hold((fn) => withRuleLock(lockDir, 'nightly', 0, fn))
    const t0 = Date.now()
    const err = await rejection(withRuleLock(lockDir, 'nightly', 0, async () => 'ran'))
    expect(Date.now() - t0).toBeLessThan(1000)
    expect(err.code).toBe('LOCKED')
    expect(err.exitCode).toBe(4)
    expect(err.message).toContain('rule "nightly" is already running')
    await release()
  })

  it('a stop signal ends the wait for a held lock with INTERRUPTED, and fn never runs', async () => {
    const release = await hold((fn) => withRuleLock(lockDir, 'nightly', 0, fn))
    const ac = new AbortController()
    let ran = false
    let waits = 0
    const waiting = rejection(
      withRuleLock(
        lockDir,
        'nightly',
        60_000,
        async () => {
          ran = true
        },
        { signal: ac.signal, onWait: () => waits++ },
      ),
    )
    await sleep(100)
    ac.abort()
    const err = await waiting
    expect(err.code).toBe('INTERRUPTED')
    expect(err.message).toContain('rule "nightly" is already running')
    expect(ran).toBe(false)
    // told once that the wait began, not on every retry of the lock
    expect(waits).toBe(1)
    await release()
  })

  it('different rules do not block each other', async () => {
    const release = await hold((fn) => withRuleLock(lockDir, 'a', 0, fn))
    await expect(withRuleLock(lockDir, 'b', 0, async () => 'b ran')).resolves.toBe('b ran')
    await release()
  })

  it('is acquirable again once released, also after fn throws', async () => {
    await withRuleLock(lockDir, 'r', 0, async () => undefined)
    await expect(
      withRuleLock(lockDir, 'r', 0, async () => {
        throw new Error('boom')
      }),
    ).rejects.toThrow('boom')
    await expect(withRuleLock(lockDir, 'r', 0, async () => 'again')).resolves.toBe('again')
  })

  it('waitMs: waits until the holder releases, then runs', async () => {
    const order: string[] = []
    const first = withRuleLock(lockDir, 'r', 0, async () => {
      order.push('first start')
      await sleep(200)
      order.push('first end')
    })
    await sleep(30)
    const t0 = Date.now()
    await withRuleLock(lockDir, 'r', 5000, async () => {
      order.push('second')
    })
    await first
    expect(order).toEqual(['first start', 'first end', 'second'])
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100)
  })

  it('waitMs: gives up with LOCKED when the holder keeps it', async () => {
    const release = await hold((fn) => withRuleLock(lockDir, 'r', 0, fn))
    const t0 = Date.now()
    const err = await rejection(withRuleLock(lockDir, 'r', 250, async () => 'ran'))
    expect(err.code).toBe('LOCKED')
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200)
    await release()
  })

  it('never lets two holders overlap', async () => {
    let active = 0
    let most = 0
    let runs = 0
    await Promise.all(
      Array.from({ length: 6 }, () =>
        withRuleLock(lockDir, 'r', 8000, async () => {
          active++
          most = Math.max(most, active)
          await sleep(10)
          active--
          runs++
        }),
      ),
    )
    expect(runs).toBe(6)
    expect(most).toBe(1)
  })

  it('takes over a stale lock left by a crashed holder', async () => {
    const lockFile = `${ruleLockPath(lockDir, 'r')}.lock`
    mkdirSync(lockFile, { recursive: true })
    const old = new Date(Date.now() - 60_000)
    utimesSync(lockFile, old, old)
    await expect(withRuleLock(lockDir, 'r', 0, async () => 'took over')).resolves.toBe('took over')
    expect(existsSync(lockFile)).toBe(false)
  })

  it('does not take over a fresh lock of another process', async () => {
    const lockFile = `${ruleLockPath(lockDir, 'r')}.lock`
    mkdirSync(lockFile, { recursive: true })
    await expect(withRuleLock(lockDir, 'r', 0, async () => 'ran')).rejects.toMatchObject({ code: 'LOCKED' })
    expect(existsSync(lockFile)).toBe(true)
  })
})

describe('withFileLock', () => {
  it('fails CONFIG_INVALID (not LOCKED) when the lock cannot be created', async () => {
    const err = await rejection(withFileLock(join(dir, 'missing', 'dir', 'rules.yaml'), async () => 1))
    expect(err.code).toBe('CONFIG_INVALID')
  })

  it('names the file in the default LOCKED message', async () => {
    const file = join(dir, 'rules.yaml')
    const release = await hold((fn) => withFileLock(file, fn))
    const err = await rejection(withFileLock(file, async () => 1, { timeoutMs: 0 }))
    expect(err.code).toBe('LOCKED')
    expect(err.message).toContain(`${file}.lock`)
    await release()
  })

  it('assertHeld passes while held, and throws LOCKED once the lock was lost', async () => {
    const file = join(dir, 'rules.yaml')
    await withFileLock(
      file,
      async (held) => {
        held.assertHeld()
        rmSync(`${file}.lock`, { recursive: true, force: true })
        // the refresh timer (staleMs / 4) notices the lock is gone
        const deadline = Date.now() + 4000
        let lost: unknown
        while (Date.now() < deadline && !lost) {
          await sleep(100)
          try {
            held.assertHeld()
          } catch (err) {
            lost = err
          }
        }
        expect(lost).toBeInstanceOf(ImgsyncError)
        expect((lost as ImgsyncError).code).toBe('LOCKED')
      },
      { staleMs: 2000 },
    )
  })
})
