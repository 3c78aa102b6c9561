// Types for the undici modules src/registry/undici.ts imports (undici types only its index).
declare module 'undici/lib/dispatcher/agent.js' {
  import { Agent } from 'undici'
  export default Agent
}

declare module 'undici/lib/api/api-request.js' {
  import type { Dispatcher } from 'undici'
  export default function request(
    this: Dispatcher,
    opts: Dispatcher.RequestOptions<unknown>,
  ): Promise<Dispatcher.ResponseData<unknown>>
}

declare module 'undici/lib/core/util.js' {
  const util: { parseURL(url: string | URL): URL }
  export default util
}
