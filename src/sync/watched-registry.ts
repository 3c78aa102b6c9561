// A backend seen through the pool: calls go to it unchanged, and the pool learns what it needs to
// report progress (the size of each blob a download starts, so a progress view has a byte total),
// and an authentication failure says which side of the sync failed and what that side takes.
import { ImgsyncError } from '../errors.js'
import type { RegistryApi } from '../registry/api.js'
import type { Descriptor } from '../registry/media-types.js'

export interface BackendWatch {
  /** a blob download starts from its first byte: `desc.size` bytes are about to stream */
  blobStarted?(registry: string, desc: Descriptor): void
}

/** Which side of a sync an endpoint is, and where that side's credentials come from. */
export interface AuthHelp {
  side: 'source' | 'target'
  /** what to check or set, for this side only */
  options: string[]
}

// hints that name both sides' options (written where the side is not known): replaced by one side's
const BOTH_SIDES = /--src-|--dst-|IMGSYNC_SRC|IMGSYNC_DST|credentials for this registry/

/** An AUTH_FAILED error as it concerns one side: `target 127.0.0.1:5001: …`, with that side's options. */
export function sideError(err: unknown, help: AuthHelp): unknown {
  if (!(err instanceof ImgsyncError) || err.code !== 'AUTH_FAILED') return err
  const e = new ImgsyncError('AUTH_FAILED', `${help.side} ${err.message}`, {
    suggestions: [...err.suggestions.filter((s) => !BOTH_SIDES.test(s)), ...help.options],
    registryCode: err.registryCode,
    status: err.status,
    temporary: err.temporary,
    retryAfterMs: err.retryAfterMs,
    cause: err,
  })
  e.retriesSpent = err.retriesSpent
  return e
}

/**
 * `api` with `watch` told what it does and (with `auth`) its authentication failures said for one
 * side; every other property and method is the backend's own.
 */
export function watched(api: RegistryApi, watch: BackendWatch, auth?: AuthHelp): RegistryApi {
  const relabel = auth ? (err: unknown) => sideError(err, auth) : (err: unknown) => err
  return new Proxy(api, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target)
      if (typeof value !== 'function') return value
      const call = (...args: unknown[]) => {
        if (prop === 'getBlob' && !args[2]) {
          // from the first byte (a resumed download continues a blob already counted)
          watch.blobStarted?.(target.name, args[1] as Descriptor)
        }
        try {
          const out = value.apply(target, args)
          return out instanceof Promise ? out.catch((err) => Promise.reject(relabel(err))) : out
        } catch (err) {
          throw relabel(err)
        }
      }
      return call
    },
  })
}
