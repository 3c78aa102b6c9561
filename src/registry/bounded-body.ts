// Reading a registry's answer into memory, never more than a bound: a body without Content-Length
// (or with a false one) is counted while it arrives and cut off at the limit.
import { ImgsyncError } from '../errors.js'
import { formatBytes } from '../text.js'
import { errorForNetwork } from './http-errors.js'
import type { Dispatcher } from './undici.js'

export type ResponseHeaders = Record<string, string | string[] | undefined>
type Body = Dispatcher.ResponseData['body']

export function header(headers: ResponseHeaders, name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}

/** Reads out and drops a small body, so its connection stays in the keep-alive pool. */
export async function drain(body: Body): Promise<void> {
  await body.dump().catch(() => undefined)
}

/** Drops a body at once (its connection goes too); no error from it reaches anyone. */
export function discard(body: Body): void {
  body.on('error', () => {})
  body.destroy()
}

export function tooLarge(host: string, what: string, max: number): ImgsyncError {
  return new ImgsyncError(
    'LIMIT_EXCEEDED',
    `${host}: ${what}: the answer is larger than ${formatBytes(max)}`,
    {
      suggestions: ['the registry sent far more than such an answer needs; imgsync stops reading it'],
    },
  )
}

/** The whole body, failing with LIMIT_EXCEEDED as soon as it passes `max` bytes. */
export async function readBounded(
  body: Body,
  headers: ResponseHeaders,
  max: number,
  host: string,
  what: string,
): Promise<Buffer> {
  const declared = Number(header(headers, 'content-length') ?? Number.NaN)
  if (declared > max) {
    discard(body)
    throw tooLarge(host, what, max)
  }
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.length
      if (size > max) {
        discard(body)
        throw tooLarge(host, what, max)
      }
      chunks.push(chunk)
    }
  } catch (err) {
    throw errorForNetwork(err, host, what)
  }
  return Buffer.concat(chunks, size)
}

/** Up to `max` bytes of an error answer as text; the rest is dropped with the connection. */
export async function readErrorText(body: Body, max: number): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      chunks.push(chunk)
      size += chunk.length
      if (size >= max) break
    }
  } catch {
    // what arrived is enough to name the error
  } finally {
    if (!body.readableEnded) discard(body)
  }
  return Buffer.concat(chunks).subarray(0, max).toString('utf8')
}
