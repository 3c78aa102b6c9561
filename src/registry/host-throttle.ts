// One registry host, as every request to it sees it: a pause that a 429 (or a 503 with
// Retry-After) puts on every new request until the wait has passed, two lanes of concurrency —
// requests waiting for an answer (HEADs, manifests, tag lists, referrers, a blob download until
// its bytes start: bound by latency) and blob transfers (first request to last byte: bound by
// bandwidth) — each shrinking on 429 and growing back on success (so imgsync settles under the
// registry's limit), an optional requests-per-second ceiling, and Docker Hub's pull allowance.
import { setTimeout as sleep } from 'node:timers/promises'
import { ImgsyncError } from '../errors.js'
import { log } from '../log.js'

export type Outcome = 'ok' | 'limited' | 'other'

/** `requests`: requests waiting for an answer; `blobs`: blob transfers (a download or an upload, whole). */
export type Lane = 'requests' | 'blobs'

/** Most in flight per lane. */
export interface LaneLimits {
  requests: number
  blobs: number
}

/** The most one lane may hold, whoever sets it. */
export const MAX_LANE = 256

async function wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(ms, undefined, { signal })
  } catch {
    throw new ImgsyncError('INTERRUPTED', 'stopped while waiting for a registry')
  }
}

/** One waiter of a lane: woken by a freed slot, or by its stop signal. */
interface Waiter {
  wake: () => void
  signal: AbortSignal | undefined
}

/** One lane: at most `limit` in flight; the limit halves on 429 and grows by one per round of successes. */
class LaneState {
  limit: number
  inFlight = 0
  private successes = 0
  private lastDecrease = 0
  private waiters: Waiter[] = []
  /** stop signals this lane listens to: one listener each, however many wait under it (Node warns past 10) */
  private readonly watched = new WeakSet<AbortSignal>()

  constructor(readonly max: number) {
    this.limit = max
  }

  /** Adjusts the limit for one answer: a 429 halves it (once per second), successes grow it back. */
  note(outcome: Outcome, host: string, lane: Lane): void {
    if (outcome === 'limited') {
      const now = Date.now()
      if (now - this.lastDecrease > 1000) {
        this.limit = Math.max(1, Math.floor(Math.min(this.limit, this.inFlight + 1) / 2))
        this.lastDecrease = now
        this.successes = 0
        log.debug(
          `${host}: rate limited; ${this.limit} ${lane === 'blobs' ? 'transfer' : 'request'}(s) at a time`,
        )
      }
    } else if (outcome === 'ok' && this.limit < this.max && ++this.successes >= this.limit) {
      this.limit++
      this.successes = 0
    }
  }

  free(): void {
    this.inFlight = Math.max(0, this.inFlight - 1)
    this.waiters.shift()?.wake()
  }

  /** Wakes every waiter. */
  wakeAll(): void {
    for (const w of this.waiters.splice(0)) w.wake()
  }

  /** Until a slot may be free, or `signal` aborts (the caller then sees it and gives up). */
  turn(signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.resolve()
    return new Promise<void>((wake) => {
      this.waiters.push({ wake, signal })
      this.watch(signal)
    })
  }

  /** On `signal`'s abort, its waiters leave the queue (so a freed slot wakes one that still waits). */
  private watch(signal: AbortSignal | undefined): void {
    if (!signal || this.watched.has(signal)) return
    this.watched.add(signal)
    const aborted = () => {
      const gone = this.waiters.filter((w) => w.signal === signal)
      this.waiters = this.waiters.filter((w) => w.signal !== signal)
      for (const w of gone) w.wake()
    }
    signal.addEventListener('abort', aborted, { once: true })
  }
}

export class HostThrottle {
  private pausedUntil = 0
  private readonly lanes: Record<Lane, LaneState>
  private tokens: number
  /** requests that may start at once under the ceiling: a quarter second's worth */
  private readonly burst: number
  private refilledAt = Date.now()
  private pullsBlocked: { until: number; why: string } | undefined

  /**
   * `max`: most in flight per lane (a number: the same for both); `perSecond`: requests started per
   * second at most.
   */
  constructor(
    readonly host: string,
    max: number | LaneLimits,
    private readonly perSecond?: number,
  ) {
    const limits = typeof max === 'number' ? { requests: max, blobs: max } : max
    this.lanes = { requests: new LaneState(limits.requests), blobs: new LaneState(limits.blobs) }
    this.burst = Math.max(1, Math.floor((perSecond ?? 0) / 4))
    this.tokens = this.burst
  }

  /** Requests allowed in flight now. */
  get concurrency(): number {
    return this.lanes.requests.limit
  }

  /** What a lane allows in flight now, and at most. */
  laneLimit(lane: Lane): { now: number; max: number } {
    return { now: this.lanes[lane].limit, max: this.lanes[lane].max }
  }

  /**
   * Waits for a slot: the host's pause, the per-second ceiling and the lane's concurrency (`none`:
   * a request inside a blob transfer, whose slot the transfer holds). Resolves with the time spent
   * waiting out a rate-limit pause; a pause longer than `maxPauseMs` (what is left of the caller's
   * wait budget) fails at once with RATE_LIMITED.
   */
  async acquire(
    signal?: AbortSignal,
    maxPauseMs = Number.POSITIVE_INFINITY,
    lane: Lane | 'none' = 'requests',
  ): Promise<number> {
    let pausedMs = 0
    const state = lane === 'none' ? undefined : this.lanes[lane]
    for (;;) {
      if (signal?.aborted) throw new ImgsyncError('INTERRUPTED', `${this.host}: stopped`)
      const now = Date.now()
      if (this.pausedUntil > now) {
        const left = this.pausedUntil - now
        if (pausedMs + left > maxPauseMs) throw this.pastBudget(left)
        await wait(left, signal)
        pausedMs += Date.now() - now
        continue
      }
      if (state && state.inFlight >= state.limit) {
        await state.turn(signal)
        continue
      }
      const next = this.nextToken(now)
      if (next > 0) {
        await wait(next, signal)
        continue
      }
      if (state) state.inFlight++
      return pausedMs
    }
  }

  /**
   * A blob transfer's slot in the `blobs` lane, from its first request to its last byte (the
   * requests that send its bytes take no other slot, only the pause and the ceiling). Resolves
   * with the function that frees it.
   */
  async transfer(signal?: AbortSignal): Promise<() => void> {
    const lane = this.lanes.blobs
    for (;;) {
      if (signal?.aborted) throw new ImgsyncError('INTERRUPTED', `${this.host}: stopped`)
      if (lane.inFlight < lane.limit) break
      await lane.turn(signal)
    }
    lane.inFlight++
    let freed = false
    return () => {
      if (freed) return
      freed = true
      lane.free()
    }
  }

  /** Frees a `requests` slot; a 429 halves that lane, successes grow it back. */
  release(outcome: Outcome, lane: Lane = 'requests'): void {
    this.note(outcome, lane)
    this.lanes[lane].free()
  }

  /** Counts an answer towards a lane's limit without freeing a slot (an upload inside a transfer). */
  note(outcome: Outcome, lane: Lane): void {
    this.lanes[lane].note(outcome, this.host, lane)
  }

  /** Pauses every new request to the host for `ms` (at least; a later pause extends it). */
  pause(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + ms)
    // those waiting for a slot now wait for the pause instead
    for (const l of Object.values(this.lanes)) l.wakeAll()
  }

  private pastBudget(left: number): ImgsyncError {
    return new ImgsyncError(
      'RATE_LIMITED',
      `${this.host}: rate limited; the registry asks to wait ${Math.ceil(left / 1000)}s more, past the wait budget`,
      {
        suggestions: ['run again later, lower --concurrency, or raise IMGSYNC_RATE_LIMIT_WAIT (seconds)'],
      },
    )
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
