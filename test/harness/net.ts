// Small pieces the test servers share: listening on a loopback port, and waits that end early when
// the server closes.
import type http from 'node:http'
import type { AddressInfo } from 'node:net'

/** Starts `server` on a free loopback port; resolves with its address. */
export function listenOnLoopback(server: http.Server): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve(server.address() as AddressInfo))
  })
}

/** Waits `ms` (at most `maxMs`), or less if `signal` aborts first; never rejects. */
export function sleepUntilAborted(ms: number, signal: AbortSignal, maxMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted || ms <= 0) return resolve()
    const done = () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, Math.min(ms, maxMs))
    signal.addEventListener('abort', done, { once: true })
  })
}
