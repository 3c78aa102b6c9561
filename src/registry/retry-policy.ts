// When to try a request again, and how long to wait first: exponential backoff with jitter, or
// what the registry's Retry-After asks for (seconds or an HTTP date), within one attempt budget.
import { setTimeout as sleep } from 'node:timers/promises'
import { ImgsyncError } from '../errors.js'

export interface RetrySettings {
  /** attempts after the first for temporary failures (IMGSYNC_RETRIES) */
  retries: number
  /** first backoff in ms, doubled per attempt, with ±25% jitter */
  backoffMs: number
}

export const DEFAULT_RETRIES = 3
const DEFAULT_BACKOFF_MS = 200
const MAX_BACKOFF_MS = 10_000
const MAX_RETRY_AFTER_MS = 60_000

/** Retry-After as milliseconds (seconds or an HTTP date), capped. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined
  const secs = Number(value)
  const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(value) - now
  if (!Number.isFinite(ms)) return undefined
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS)
}

export class RetryPolicy {
  readonly retries: number
  private readonly backoffMs: number

  constructor(settings: Partial<RetrySettings> = {}) {
    this.retries = settings.retries ?? DEFAULT_RETRIES
    this.backoffMs = settings.backoffMs ?? DEFAULT_BACKOFF_MS
  }

  /** Whether attempt number `attempt` (0-based) may be followed by another. */
  allows(attempt: number): boolean {
    return attempt < this.retries
  }

  /** How long to wait before the next attempt after attempt `attempt` (0-based) failed. */
  delayMs(attempt: number, retryAfter?: number): number {
    if (retryAfter !== undefined) return retryAfter
    const exp = this.backoffMs * 2 ** attempt
    return Math.min(exp * (0.75 + Math.random() * 0.5), MAX_BACKOFF_MS)
  }
}

/** Waits `ms`; a stop signal ends the wait at once with INTERRUPTED. */
export async function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(ms, undefined, { signal })
  } catch {
    throw new ImgsyncError('INTERRUPTED', 'stopped while waiting to retry')
  }
}
