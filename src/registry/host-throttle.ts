// One registry host, as every request to it sees it: a pause that a 429 (or a 503 with
// Retry-After) puts on every new request until the wait has passed, a concurrency that shrinks on
// 429 and grows back on success (so imgsync settles under the registry's limit), an optional
// requests-per-second ceiling, and Docker Hub's pull allowance.
import { setTimeout as sleep } from 'node:timers/promises'
import { ImgsyncError } from '../errors.js'
import { log } from '../log.js'

export type Outcome = 'ok' | 'limited' | 'other'

async function wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(ms, undefined, { signal })
  } catch {
    throw new ImgsyncError('INTERRUPTED', 'stopped while waiting for a registry')
  }
}

export class HostThrottle {
  private pausedUntil = 0
  private limit: number
  private inFlight = 0
  private successes = 0
  private lastDecrease = 0
  private readonly waiters: (() => void)[] = []
  private tokens: number
  /** requests that may start at once under the ceiling: a quarter second's worth */
  private readonly burst: number
  private refilledAt = Date.now()
  private pullsBlocked: { until: number; why: string } | undefined

  /** `max`: requests in flight at most; `perSecond`: requests started per second at most. */
  constructor(
    readonly host: string,
    private readonly max: number,
    private readonly perSecond?: number,
  ) {
    this.limit = max
    this.burst = Math.max(1, Math.floor((perSecond ?? 0) / 4))
    this.tokens = this.burst
  }

  /** Requests allowed in flight now. */
  get concurrency(): number {
    return this.limit
  }

  /**
   * Waits for a slot: the host's pause, the per-second ceiling and the concurrency. Resolves with
   * the time spent waiting out a rate-limit pause; a pause longer than `maxPauseMs` (what is left
   * of the caller's wait budget) fails at once with RATE_LIMITED.
   */
  async acquire(signal?: AbortSignal, maxPauseMs = Number.POSITIVE_INFINITY): Promise<number> {
    let pausedMs = 0
    for (;;) {
      if (signal?.aborted) throw new ImgsyncError('INTERRUPTED', `${this.host}: stopped`)
      const now = Date.now()
      if (this.pausedUntil > now) {
        const left = this.pausedUntil - now
        if (pausedMs + left > maxPauseMs) {
          throw new ImgsyncError(
            'RATE_LIMITED',
            `${this.host}: rate limited; the registry asks to wait ${Math.ceil(left / 1000)}s more, past the wait budget`,
            {
              suggestions: [
                'run again later, lower --concurrency, or raise IMGSYNC_RATE_LIMIT_WAIT (seconds)',
              ],
            },
          )
        }
        await wait(left, signal)
        pausedMs += Date.now() - now
        continue
      }
      if (this.inFlight >= this.limit) {
        await new Promise<void>((resolve) => this.waiters.push(resolve))
        continue
      }
      const next = this.nextToken(now)
      if (next > 0) {
        await wait(next, signal)
        continue
      }
      this.inFlight++
      return pausedMs
    }
  }

  /** Frees the slot; a 429 halves the concurrency (once per pause), successes grow it back. */
  release(outcome: Outcome): void {
    this.inFlight = Math.max(0, this.inFlight - 1)
    if (outcome === 'limited') {
      const now = Date.now()
      if (now - this.lastDecrease > 1000) {
        this.limit = Math.max(1, Math.floor(Math.min(this.limit, this.inFlight + 1) / 2))
        this.lastDecrease = now
        this.successes = 0
        log.debug(`${this.host}: rate limited; ${this.limit} request(s) at a time`)
      }
    } else if (outcome === 'ok' && this.limit < this.max && ++this.successes >= this.limit) {
      this.limit++
      this.successes = 0
    }
    this.waiters.shift()?.()
  }

  /** Pauses every new request to the host for `ms` (at least; a later pause extends it). */
  pause(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + ms)
    // those waiting for a slot now wait for the pause instead
    for (const w of this.waiters.splice(0)) w()
  }

  /** Docker Hub's `ratelimit-remaining` / `ratelimit-limit` (`76;w=21600`): logged, and 0 stops pulls. */
  notePullAllowance(
    remaining: string | undefined,
    limit: string | undefined,
    reset: string | undefined,
  ): void {
    if (remaining === undefined) return
    const left = Number.parseInt(remaining, 10)
    const window = Number(/w=(\d+)/.exec(remaining)?.[1] ?? /w=(\d+)/.exec(limit ?? '')?.[1] ?? 21_600)
    log.debug(`${this.host}: pull allowance ${remaining}${limit ? ` of ${limit}` : ''}`)
    if (!Number.isFinite(left) || left > 0) return
    const resetSeconds = Number(reset)
    const until =
      Number.isFinite(resetSeconds) && resetSeconds > 0
        ? resetSeconds > 1e9
          ? resetSeconds * 1000
          : Date.now() + resetSeconds * 1000
        : Date.now() + window * 1000
    this.pullsBlocked = { until, why: `0 of ${Number.parseInt(limit ?? '', 10) || '?'} pulls left` }
  }

  /** Throws RATE_LIMITED when the host said no pulls are left (a manifest GET is a pull). */
  checkPull(): void {
    const blocked = this.pullsBlocked
    if (!blocked || blocked.until <= Date.now()) return
    throw new ImgsyncError(
      'RATE_LIMITED',
      `${this.host}: pull limit reached (${blocked.why}); it resets by ${new Date(blocked.until).toISOString()}`,
      { suggestions: ['log in (authenticated pulls have a higher limit), or run again after the reset'] },
    )
  }

  /** ms until a request may start under the per-second ceiling (0: now, and the token is taken). */
  private nextToken(now: number): number {
    if (!this.perSecond) return 0
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.perSecond)
    this.refilledAt = now
    if (this.tokens >= 1) {
      this.tokens -= 1
      return 0
    }
    return Math.ceil(((1 - this.tokens) / this.perSecond) * 1000)
  }
}
