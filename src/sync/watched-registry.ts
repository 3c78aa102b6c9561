// A backend seen through the pool: calls go to it unchanged, and the pool learns what it needs to
// report progress (the size of each blob a download starts, so a progress view has a byte total).
import type { RegistryApi } from '../registry/api.js'
import type { Descriptor } from '../registry/media-types.js'

export interface BackendWatch {
  /** a blob download starts from its first byte: `desc.size` bytes are about to stream */
  blobStarted?(registry: string, desc: Descriptor): void
}

/** `api` with `watch` told what it does; every other property and method is the backend's own. */
export function watched(api: RegistryApi, watch: BackendWatch): RegistryApi {
  return new Proxy(api, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target)
      if (prop === 'getBlob') {
        return (repo: string, desc: Descriptor, offset?: number) => {
          // a resumed download (offset > 0) continues a blob already counted
          if (!offset) watch.blobStarted?.(target.name, desc)
          return target.getBlob(repo, desc, offset)
        }
      }
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}
