// What retrying, waiting out rate limits and resuming cost one item: counted where it happens
// (transport, blob copier) and read where the item is recorded, without passing a counter through
// every call in between (the item's work runs inside withRequestStats).
import { AsyncLocalStorage } from 'node:async_hooks'

export interface RequestStats {
  /** requests and blob transfers tried again */
  retries: number
  /** time spent waiting for a registry's rate limit to pass */
  rateLimitWaitMs: number
  /** bytes not sent again because a transfer continued where it broke off */
  resumedBytes: number
}

const current = new AsyncLocalStorage<RequestStats>()

export function emptyRequestStats(): RequestStats {
  return { retries: 0, rateLimitWaitMs: 0, resumedBytes: 0 }
}

/** Runs `fn` with `stats` collecting what its requests cost. */
export function withRequestStats<T>(stats: RequestStats, fn: () => Promise<T>): Promise<T> {
  return current.run(stats, fn)
}

export function noteRetry(): void {
  const s = current.getStore()
  if (s) s.retries++
}

export function noteRateLimitWait(ms: number): void {
  const s = current.getStore()
  if (s && ms > 0) s.rateLimitWaitMs += Math.round(ms)
}

export function noteResumed(bytes: number): void {
  const s = current.getStore()
  if (s && bytes > 0) s.resumedBytes += bytes
}
