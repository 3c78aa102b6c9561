import { ExitCodes } from '../errors.js'

/**
 * SIGINT/SIGTERM abort the running work: no new items start, in-flight ones get a short grace,
 * the rest are recorded `interrupted`, and the command exits 130. A second signal exits at once.
 */
export function abortOnSignals(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController()
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(ExitCodes.interrupted)
    process.stderr.write(
      `imgsync: ${name}: stopping; in-flight images get a few seconds (${name} again stops now)\n`,
    )
    controller.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    },
  }
}
