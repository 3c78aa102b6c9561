// A rule never overlaps itself: ticks that come while it runs are skipped, counted, and the run
// that caused them carries the count.
import { describe, expect, it } from 'vitest'
import type { Rule } from '../../src/rules/schema.js'
import type { Overlap } from '../../src/sync/task.js'
import { Schedules } from '../../src/triggers/schedules.js'

const rule = { name: 'nightly' } as Rule

function harness() {
  const said: string[] = []
  const skipped: number[] = []
  const runs: Overlap[] = []
  let release = () => {}
  const schedules = new Schedules({
    run: (_rule, _why, overlap) => {
      runs.push(overlap)
      return new Promise<void>((resolve) => {
        release = resolve
      })
    },
    skipped: (_rule, streak) => skipped.push(streak),
    say: (line) => said.push(line),
  })
  return { schedules, said, skipped, runs, release: () => release() }
}

describe('Schedules.tick', () => {
  it('skips ticks while the rule runs, counts the streak, and tells it once when the run ends', async () => {
    const h = harness()
    const first = h.schedules.tick(rule, 'scheduled')
    expect(h.schedules.running).toBe(1)
    await h.schedules.tick(rule, 'scheduled')
    await h.schedules.tick(rule, 'reconcile')
    await h.schedules.tick(rule, 'scheduled')
    expect(h.runs).toHaveLength(1)
    expect(h.skipped).toEqual([1, 2, 3])
    expect(h.said).toEqual([])
    h.release()
    await first
    expect(h.runs[0]!.skippedTicks).toBe(3)
    expect(h.said).toEqual(['rule nightly: 3 tick(s) skipped while it still ran'])
    expect(h.schedules.running).toBe(0)
  })

  it('a new streak starts from zero once the rule ran again', async () => {
    const h = harness()
    const first = h.schedules.tick(rule, 'scheduled')
    await h.schedules.tick(rule, 'scheduled')
    h.release()
    await first
    const second = h.schedules.tick(rule, 'scheduled')
    await h.schedules.tick(rule, 'scheduled')
    h.release()
    await second
    expect(h.runs.map((o) => o.skippedTicks)).toEqual([1, 1])
    expect(h.skipped).toEqual([1, 1])
  })

  it('the overlap guard survives a restart of the timers (SIGHUP)', async () => {
    const h = harness()
    const first = h.schedules.tick(rule, 'scheduled')
    h.schedules.start([], 0)
    await h.schedules.tick(rule, 'scheduled')
    expect(h.runs).toHaveLength(1)
    h.release()
    await first
  })
})
