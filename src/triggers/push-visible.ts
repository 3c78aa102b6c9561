import { setTimeout as sleep } from 'node:timers/promises'
import type { Plan } from '../sync/plan.js'

/** How long a push-triggered task waits for the pushed tag to show at the source. */
export const PUSH_VISIBLE_WAIT_MS = 5_000

/**
 * distribution sends the push notification when it has stored the manifest, before it writes the
 * tag, so a task started at once can find no tag yet (NOT_FOUND) or the tag's previous digest (a
 * no-op that misses the push). Waits, briefly, until the tag answers with the pushed digest (or
 * exists, when the event names none); after `waitMs` the plan runs as it is.
 */
export async function whenPushVisible(
  plan: Plan,
  digest: string | undefined,
  opts: { waitMs?: number; signal?: AbortSignal } = {},
): Promise<Plan> {
  const item = plan.items[0]
  if (!item) return plan
  const deadline = Date.now() + (opts.waitMs ?? PUSH_VISIBLE_WAIT_MS)
  for (let delay = 25; ; delay = Math.min(delay * 2, 400)) {
    const info = await item.src.headManifest(item.srcRepo, item.srcRef).catch(() => undefined)
    if (info && (!digest || info.digest === digest)) return plan
    if (Date.now() + delay > deadline || opts.signal?.aborted) return plan
    // a stop (SIGTERM) ends the wait at once; the task then records the item interrupted
    await sleep(delay, undefined, { signal: opts.signal }).catch(() => undefined)
  }
}
