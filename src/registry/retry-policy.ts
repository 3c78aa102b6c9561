// When to try again, and how long to wait first, for every request and every blob transfer alike:
// temporary failures (408, 429, 5xx, resets, timeouts) spend an attempt budget (IMGSYNC_RETRIES)
// with exponential backoff and jitter, or what Retry-After asks for; waiting out a rate limit
// (429, or 503 with Retry-After) spends a wait budget instead (IMGSYNC_RATE_LIMIT_WAIT), so a
// registry that says "come back in 3 s" several times in a row costs no item. A blob transfer that
// continues where it broke off gets a fresh attempt budget for each break that followed progress,
// under a hard cap on its breaks in all (BREAKS_PER_RETRY × IMGSYNC_RETRIES).
import { setTimeout as sleep } from 'node:timers/promises'
import { ImgsyncError } from '../errors.js'
import { log } from '../log.js'
import type { HostThrottle } from './host-throttle.js'
import { noteRateLimitWait, noteRetry } from './request-stats.js'

export interface RetrySettings {
  /** attempts after the first for temporary failures (IMGSYNC_RETRIES) */
  retries: number
  /** first backoff in ms, doubled per attempt, with ±25% jitter */
  backoffMs: number
  /** how long one request may wait out rate limits, in all (IMGSYNC_RATE_LIMIT_WAIT) */
  rateLimitWaitMs: number
}

export const DEFAULT_RETRIES = 5
export const DEFAULT_RATE_LIMIT_WAIT_MS = 5 * 60_000
const DEFAULT_BACKOFF_MS = 200
const MAX_BACKOFF_MS = 10_000
const MAX_RETRY_AFTER_MS = 60_000
/** Breaks one blob transfer may be continued or restarted after, in all, per attempt of the budget. */
export const BREAKS_PER_RETRY = 10

/** Retry-After as milliseconds (seconds or an HTTP date), capped. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined
  const secs = Number(value)
  const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(value) - now
  if (!Number.isFinite(ms)) return undefined
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS)
}

/** A rate limit: 429, or 503 with Retry-After (the registry says when to come back). */
export function isRateLimit(e: ImgsyncError): boolean {
  return e.status === 429 || e.code === 'RATE_LIMITED' || (e.status === 503 && e.retryAfterMs !== undefined)
}

/** Waits `ms`; a stop signal ends the wait at once with INTERRUPTED. */
export async function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(ms, undefined, { signal })
  } catch {
    throw new ImgsyncError('INTERRUPTED', 'stopped while waiting to retry')
  }
}

/**
 * What one operation has spent so far: failed attempts (the attempt budget) and time waited out
 * on rate limits (the wait budget). A request has one; a blob transfer has one for starting over
 * and one for each step that continues where it broke off (StepBudget), all counted in its tally.
 */
export interface RetryState {
  /** failed attempts since this budget was filled */
  failures: number
  waitedMs: number
  /** the blob transfer this budget is part of: its breaks in all, against the hard cap */
  transfer?: TransferTally
}

/** The breaks of one blob transfer, whichever of its budgets paid for them. */
export interface TransferTally {
  breaks: number
}

export function freshRetryState(transfer?: TransferTally): RetryState {
  return { failures: 0, waitedMs: 0, ...(transfer && { transfer }) }
}

/**
 * The attempt budget of one step of a blob transfer that continues where it broke off (a download
 * continued with Range, chunks continued from what the registry holds). A break after the step got
 * further than at its previous break (or its start) is paid from a fresh budget: real progress
 * between faults never fails a blob. A break without progress spends from the same budget, so a
 * registry that breaks every request at the same byte fails the step after IMGSYNC_RETRIES more.
 */
export class StepBudget {
  private state: RetryState
  private mark: number

  /** `start`: where the step starts (bytes already held); `transfer`: the blob's tally */
  constructor(
    private readonly transfer: TransferTally | undefined,
    start = 0,
  ) {
    this.mark = start
    this.state = freshRetryState(transfer)
  }

  /** The budget to pay a break at `position` (bytes the step holds now) from. */
  at(position: number): RetryState {
    if (position > this.mark) {
      this.mark = position
      this.state = freshRetryState(this.transfer)
    }
    return this.state
  }
}

export interface RetryContext {
  what: string
  /** false: the attempt cannot be repeated (a streamed body), so nothing is retried here */
  replayable: boolean
  /** turns whatever an attempt threw into an ImgsyncError */
  toError: (err: unknown) => ImgsyncError
  signal?: AbortSignal
  /** the host to pause on a rate limit (its requests then wait for it in acquire) */
  throttle?: HostThrottle
  /** called for each retry (per-registry counters) */
  onRetry?: () => void
}

export class RetryPolicy {
  readonly retries: number
  readonly rateLimitWaitMs: number
  private readonly backoffMs: number

  constructor(settings: Partial<RetrySettings> = {}) {
    this.retries = settings.retries ?? DEFAULT_RETRIES
    this.backoffMs = settings.backoffMs ?? DEFAULT_BACKOFF_MS
    this.rateLimitWaitMs = settings.rateLimitWaitMs ?? DEFAULT_RATE_LIMIT_WAIT_MS
  }

  /** Whether attempt number `attempt` (0-based) may be followed by another. */
  allows(attempt: number): boolean {
    return attempt < this.retries
  }

  /** Breaks one blob transfer is continued or restarted after, at most, however it progressed. */
  get maxBreaks(): number {
    return this.retries * BREAKS_PER_RETRY
  }

  /** How long to wait before the next attempt after attempt `attempt` (0-based) failed. */
  delayMs(attempt: number, retryAfter?: number): number {
    if (retryAfter !== undefined) return retryAfter
    const exp = this.backoffMs * 2 ** attempt
    return Math.min(exp * (0.75 + Math.random() * 0.5), MAX_BACKOFF_MS)
  }

  /** Runs `attempt` until it succeeds, fails for good, or a budget (in `state`) is spent. */
  async run<T>(
    attempt: (state: RetryState) => Promise<T>,
    ctx: RetryContext,
    state: RetryState = freshRetryState(),
  ): Promise<T> {
    let limits = 0
    for (;;) {
      try {
        return await attempt(state)
      } catch (err) {
        const e = ctx.toError(err)
        if (!e.temporary || !ctx.replayable || e.retriesSpent) throw e
        let wait: number
        if (isRateLimit(e)) {
          // what the registry asks, but never less than a growing backoff: "Retry-After: 0" forever
          // must still end within the wait budget
          wait = Math.max(e.retryAfterMs ?? 0, this.delayMs(limits++))
          if (state.waitedMs + wait > this.rateLimitWaitMs) throw this.waitedTooLong(e, state.waitedMs, wait)
          if (ctx.throttle) {
            // the next attempt waits for the host's pause in acquire, which counts it
            ctx.throttle.pause(wait)
          } else {
            await pause(wait, ctx.signal)
            state.waitedMs += wait
            noteRateLimitWait(wait)
          }
        } else {
          wait = await this.backoff(e, state, ctx.signal)
        }
        noteRetry()
        ctx.onRetry?.()
        log.debug(`retry in ${Math.round(wait)}ms: ${e.message}`)
      }
    }
  }

  /**
   * Spends one attempt of `state` on temporary failure `e` and waits the backoff (or Retry-After);
   * throws `e`, marked spent, when the budget has none left, or when the blob transfer it is part
   * of has broken off `maxBreaks` times already. Returns the time waited.
   */
  async backoff(e: ImgsyncError, state: RetryState, signal?: AbortSignal): Promise<number> {
    if (!this.allows(state.failures)) throw spent(e)
    const tally = state.transfer
    if (tally) {
      if (tally.breaks >= this.maxBreaks) throw spent(this.brokeTooOften(e, tally.breaks))
      tally.breaks++
    }
    const wait = this.delayMs(state.failures++, e.retryAfterMs)
    await pause(wait, signal)
    return wait
  }

  private brokeTooOften(e: ImgsyncError, breaks: number): ImgsyncError {
    return new ImgsyncError(
      e.code,
      `${e.message} (the blob broke off ${breaks} times already, the most one blob may: ${BREAKS_PER_RETRY} × IMGSYNC_RETRIES)`,
      {
        status: e.status,
        registryCode: e.registryCode,
        temporary: e.temporary,
        retryAfterMs: e.retryAfterMs,
        cause: e,
        suggestions: [...e.suggestions, 'the link or registry keeps breaking transfers off; run again later'],
      },
    )
  }

  private waitedTooLong(e: ImgsyncError, waited: number, more: number): ImgsyncError {
    return spent(
      new ImgsyncError(
        'RATE_LIMITED',
        `${e.message}; waited ${Math.round(waited / 1000)}s already, and the registry asks for ${Math.round(more / 1000)}s more`,
        {
          status: e.status,
          retryAfterMs: more,
          suggestions: ['run again later, lower --concurrency, or raise IMGSYNC_RATE_LIMIT_WAIT (seconds)'],
        },
      ),
    )
  }
}

/** Marks a failure whose retry budget is spent, so no outer loop retries it again. */
export function spent(e: ImgsyncError): ImgsyncError {
  e.retriesSpent = true
  return e
}
