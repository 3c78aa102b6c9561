import { ExitCodes } from '../errors.js'

/** What the command does around a stop signal (a progress line, the records, the summary). */
export interface StopHooks {
  /** the first signal, before its notice is written: a progress line clears itself */
  stopping?(): void
  /**
   * The second signal, right before the process exits 130: give the terminal back, write what is
   * still running as interrupted, say so in one line. Must be synchronous.
   */
  stoppingNow?(signal: NodeJS.Signals): void
}

/**
 * SIGINT/SIGTERM abort the running work: no new items start, in-flight ones get a short grace,
 * the rest are recorded `interrupted`, and the command exits 130. A second signal exits at once,
 * after `hooks.stoppingNow`. The handlers stay for the rest of the process (a command runs once).
 */
export function abortOnSignals(hooks: StopHooks = {}): { signal: AbortSignal } {
  const controller = new AbortController()
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      try {
        hooks.stoppingNow?.(name)
      } finally {
        process.exit(ExitCodes.interrupted)
      }
    }
    hooks.stopping?.()
    // short, and on a line of its own: it must fit any terminal and say how to stop at once
    process.stderr.write(`imgsync: ${name}: stopping; ${name} again stops now\n`)
    controller.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return { signal: controller.signal }
}
