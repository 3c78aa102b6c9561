// undici's index module also loads fetch, cookies, WebSocket and the cache stores (about 100 ms of
// start-up, and bundled all the same, as esbuild cannot drop unused CommonJS); the transport needs
// only an Agent and request(), so they come from the undici modules that define them. undici has no
// "exports" map, so these paths are importable; types: undici-modules.d.ts.
import type { Dispatcher, request as undiciRequest } from 'undici'
import apiRequest from 'undici/lib/api/api-request.js'
import util from 'undici/lib/core/util.js'
import Agent from 'undici/lib/dispatcher/agent.js'

export { Agent }

/** undici's request() for an absolute URL (undici's index wraps lib/api's request the same way). */
export function request(
  url: string,
  opts: Parameters<typeof undiciRequest>[1] & { dispatcher: Dispatcher },
): Promise<Dispatcher.ResponseData> {
  const u = util.parseURL(url)
  return apiRequest.call(opts.dispatcher, {
    ...opts,
    origin: u.origin,
    path: u.search ? `${u.pathname}${u.search}` : u.pathname,
    method: opts.method || (opts.body ? 'PUT' : 'GET'),
  }) as Promise<Dispatcher.ResponseData>
}

export type { Dispatcher }
