import { ImgsyncError } from '../errors.js'

/**
 * AbortSignals for requests: a stop (SIGINT/SIGTERM) ends every request in flight with INTERRUPTED,
 * a request's deadline ends it with TIMEOUT, whether it waits for headers or reads its body. One
 * listener on the stop signal serves every request, so none is added per request.
 */
export class RequestGuards {
  private readonly inflight = new Set<AbortController>()

  constructor(private readonly stop: AbortSignal | undefined) {
    stop?.addEventListener('abort', () => {
      for (const c of this.inflight) c.abort(new ImgsyncError('INTERRUPTED', 'stopped by a signal'))
    })
  }

  /** A signal for one request and `done`, which releases it (idempotent). */
  open(deadlineMs: number | undefined, where: string): { signal?: AbortSignal; done(): void } {
    if (!this.stop && deadlineMs === undefined) return { done() {} }
    const controller = new AbortController()
    if (this.stop?.aborted) controller.abort(new ImgsyncError('INTERRUPTED', `${where}: stopped`))
    this.inflight.add(controller)
    const timer =
      deadlineMs === undefined
        ? undefined
        : setTimeout(() => {
            controller.abort(
              new ImgsyncError('TIMEOUT', `${where}: no complete answer within ${deadlineMs / 1000}s`, {
                temporary: true,
                suggestions: [
                  'check the network, or raise IMGSYNC_TIMEOUT (seconds; the deadline is twice it)',
                ],
              }),
            )
          }, deadlineMs).unref()
    return {
      signal: controller.signal,
      done: () => {
        clearTimeout(timer)
        this.inflight.delete(controller)
      },
    }
  }
}
