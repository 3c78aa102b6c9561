// The one retry policy and a host's throttle: temporary failures spend the attempt budget, rate
// limits spend the wait budget instead, a 429 pauses every request to the host, concurrency shrinks
// on 429 and grows back, and a per-second ceiling holds.
import { describe, expect, it } from 'vitest'
import { ImgsyncError } from '../../src/errors.js'
import { HostThrottle } from '../../src/registry/host-throttle.js'
import { emptyRequestStats, withRequestStats } from '../../src/registry/request-stats.js'
import { RetryPolicy, StepBudget, type TransferTally } from '../../src/registry/retry-policy.js'
import { rejection } from '../support/rejection.js'

const temporary = () => new ImgsyncError('NETWORK', 'reset', { temporary: true })
const limited = (ms: number) =>
  new ImgsyncError('RATE_LIMITED', 'slow down', { status: 429, temporary: true, retryAfterMs: ms })
const ctx = { what: 'x', replayable: true, toError: (e: unknown) => e as ImgsyncError }

describe('RetryPolicy', () => {
  it('temporary failures spend the attempt budget; the last one is marked spent', async () => {
    const policy = new RetryPolicy({ retries: 2, backoffMs: 1 })
    let calls = 0
    const err = await rejection(
      policy.run(async () => {
        calls++
        throw temporary()
      }, ctx),
    )
    expect(calls).toBe(3)
    expect(err.retriesSpent).toBe(true)
  })

  it('rate limits cost no attempt: four "come back in 20 ms" then success, with retries 0', async () => {
    const policy = new RetryPolicy({ retries: 0, backoffMs: 1 })
    const cost = emptyRequestStats()
    let calls = 0
    const value = await withRequestStats(cost, () =>
      policy.run(async () => {
        if (++calls <= 4) throw limited(20)
        return 'ok'
      }, ctx),
    )
    expect(value).toBe('ok')
    expect(calls).toBe(5)
    expect(cost.retries).toBe(4)
    expect(cost.rateLimitWaitMs).toBeGreaterThanOrEqual(80)
  })

  it('past the wait budget: RATE_LIMITED saying how long the registry asked to wait', async () => {
    const policy = new RetryPolicy({ retries: 5, backoffMs: 1, rateLimitWaitMs: 50 })
    const err = await rejection(
      policy.run(async () => {
        throw limited(40)
      }, ctx),
    )
    expect(err.code).toBe('RATE_LIMITED')
    expect(err.message).toMatch(/asks for 0s more|asks for \d+s more/)
    expect(err.retriesSpent).toBe(true)
  })

  it('nothing is retried that cannot be replayed, or is not temporary', async () => {
    const policy = new RetryPolicy({ retries: 3, backoffMs: 1 })
    let calls = 0
    const fail = async () => {
      calls++
      throw temporary()
    }
    await rejection(policy.run(fail, { ...ctx, replayable: false }))
    expect(calls).toBe(1)
    calls = 0
    await rejection(
      policy.run(async () => {
        calls++
        throw new ImgsyncError('DENIED', 'no')
      }, ctx),
    )
    expect(calls).toBe(1)
  })
})

describe('StepBudget', () => {
  it('a break after progress is paid from a fresh budget; one without, from the same', async () => {
    const policy = new RetryPolicy({ retries: 2, backoffMs: 1 })
    const tally: TransferTally = { breaks: 0 }
    const step = new StepBudget(tally)
    // at byte 0 twice: the budget of 2 is spent, a third break there fails
    await policy.backoff(temporary(), step.at(0))
    await policy.backoff(temporary(), step.at(0))
    expect((await rejection(policy.backoff(temporary(), step.at(0)))).retriesSpent).toBe(true)
    // progress fills it again, however often
    for (let at = 1; at <= 5; at++) await policy.backoff(temporary(), step.at(at))
    expect(step.at(5).failures).toBe(1)
    expect(tally.breaks).toBe(7)
  })

  it("the blob's breaks in all are capped at 10 × retries, progress or not", async () => {
    const policy = new RetryPolicy({ retries: 2, backoffMs: 1 })
    expect(policy.maxBreaks).toBe(20)
    const tally: TransferTally = { breaks: 0 }
    const step = new StepBudget(tally)
    for (let at = 1; at <= 20; at++) await policy.backoff(temporary(), step.at(at))
    const err = await rejection(policy.backoff(temporary(), step.at(21)))
    expect(err.code).toBe('NETWORK')
    expect(err.retriesSpent).toBe(true)
    expect(err.message).toMatch(/broke off 20 times/)
    // with no retries, nothing is retried at all
    const none = new RetryPolicy({ retries: 0, backoffMs: 1 })
    expect(
      (await rejection(none.backoff(temporary(), new StepBudget({ breaks: 0 }).at(1)))).retriesSpent,
    ).toBe(true)
  })
})

describe('HostThrottle', () => {
  it('a pause holds every new request back until it has passed, and says how long it waited', async () => {
    const t = new HostThrottle('h', 4)
    t.pause(60)
    const t0 = Date.now()
    const waited = await t.acquire()
    expect(Date.now() - t0).toBeGreaterThanOrEqual(55)
    expect(waited).toBeGreaterThanOrEqual(55)
    t.release('ok')
  })

  it('a pause longer than what is left of the wait budget fails at once', async () => {
    const t = new HostThrottle('h', 4)
    t.pause(10_000)
    const t0 = Date.now()
    expect((await rejection(t.acquire(undefined, 100))).code).toBe('RATE_LIMITED')
    expect(Date.now() - t0).toBeLessThan(1000)
  })

  it('at most `concurrency` in flight; a 429 halves it, successes grow it back to the maximum', async () => {
    const t = new HostThrottle('h', 8)
    for (let i = 0; i < 8; i++) await t.acquire()
    let ninth = false
    const waiting = t.acquire().then(() => {
      ninth = true
    })
    await new Promise((r) => setTimeout(r, 20))
    expect(ninth).toBe(false)
    t.release('limited')
    expect(t.concurrency).toBe(4)
    // 7 still in flight, 4 allowed: the ninth waits until fewer than 4 are
    for (let i = 0; i < 3; i++) t.release('other')
    await new Promise((r) => setTimeout(r, 20))
    expect(ninth).toBe(false)
    t.release('other')
    await waiting
    expect(ninth).toBe(true)
    for (let i = 0; i < 4; i++) t.release('ok')
    for (let round = 0; round < 40 && t.concurrency < 8; round++) {
      await t.acquire()
      t.release('ok')
    }
    expect(t.concurrency).toBe(8)
  })

  it('a per-second ceiling: 40 requests at 20/s take about 2 s, never more than 25 in any second', async () => {
    const t = new HostThrottle('h', 100, 20)
    const starts: number[] = []
    await Promise.all(
      Array.from({ length: 40 }, async () => {
        await t.acquire()
        starts.push(Date.now())
        t.release('ok')
      }),
    )
    starts.sort((a, b) => a - b)
    for (const s of starts)
      expect(starts.filter((x) => x >= s && x < s + 1000).length).toBeLessThanOrEqual(25)
    expect(starts.at(-1)! - starts[0]!).toBeGreaterThan(1500)
  })

  it("Docker Hub's allowance at 0 stops pulls with RATE_LIMITED and the reset time", () => {
    const t = new HostThrottle('registry-1.docker.io', 4)
    t.notePullAllowance('3;w=21600', '100;w=21600', undefined)
    expect(() => t.checkPull()).not.toThrow()
    t.notePullAllowance('0;w=21600', '100;w=21600', undefined)
    expect(() => t.checkPull()).toThrow(/pull limit reached \(0 of 100 pulls left\); it resets by 20\d\d-/)
  })
})
