// Registry answers and socket failures as ImgsyncErrors with stable codes: status first, then the
// registry's own errors[].code (kept alongside), with whether a retry may help.
import { ImgsyncError, isImgsyncError } from '../errors.js'

/** Statuses worth another attempt: the registry or something on the way is busy or broken for now. */
export const TEMPORARY_STATUS: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504])
const TLS_ERROR =
  /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS|SSL|EPROTO|wrong version number|DEPTH_ZERO/i

export interface RegistryErrorBody {
  code?: string
  message?: string
}

/** Registry error body: `{"errors":[{"code","message"}]}`; may be empty, not JSON, or any shape. */
export function parseErrorBody(text: string): RegistryErrorBody {
  try {
    const json = JSON.parse(text) as { errors?: unknown }
    const first: unknown = Array.isArray(json?.errors) ? json.errors[0] : undefined
    if (first && typeof first === 'object') {
      const { code, message } = first as Record<string, unknown>
      return {
        ...(typeof code === 'string' && { code: code.slice(0, 64) }),
        ...(typeof message === 'string' && { message: message.slice(0, 500) }),
      }
    }
  } catch {
    // not JSON: fall through to the status
  }
  return {}
}

/** Maps an HTTP error answer to our stable codes; the registry's own code is kept alongside. */
export function errorForStatus(
  status: number,
  body: RegistryErrorBody,
  host: string,
  what: string,
  method?: string,
  extra: { retryAfterMs?: number } = {},
): ImgsyncError {
  const detail = body.message ? `: ${[body.code, body.message].filter(Boolean).join(' ')}` : ''
  const opts = { status, registryCode: body.code, temporary: TEMPORARY_STATUS.has(status), ...extra }
  const base = `${host}: ${what}`
  if (status === 401) {
    return new ImgsyncError('AUTH_FAILED', `${base}: authentication failed (HTTP 401)${detail}`, {
      ...opts,
      suggestions: ['check the credentials for this registry'],
    })
  }
  if (status === 403 || body.code === 'DENIED') {
    return new ImgsyncError('DENIED', `${base}: permission denied (HTTP ${status})${detail}`, {
      ...opts,
      suggestions: ['the account needs pull on the source and push on the target'],
    })
  }
  if (status === 404 && (method === 'POST' || method === 'PUT' || method === 'PATCH')) {
    if (body.code === 'NAME_UNKNOWN' || body.code === 'NOT_FOUND' || body.code === undefined) {
      // ECR, Artifact Registry, Harbor projects, SWR organisations: no create-on-push
      return new ImgsyncError(
        'NOT_FOUND',
        `${base}: the target repository does not exist and this registry does not create it on push${detail}`,
        { ...opts, suggestions: ['create the repository (or its project/namespace) on the target first'] },
      )
    }
  }
  if (status === 405 && (method === 'POST' || method === 'PUT' || method === 'PATCH')) {
    // pulls yes, pushes no: a pull-through cache, a mirror, a read-only registry
    const what = `${base}: the registry does not take pushes (HTTP 405 on ${method})${detail}`
    const hint = 'it is read-only, or a pull-through cache or mirror: push to the registry behind it'
    return new ImgsyncError('DENIED', what, { ...opts, suggestions: [hint] })
  }
  if (status === 404) {
    const msg =
      body.code === 'NAME_UNKNOWN'
        ? 'repository not found'
        : body.code === 'MANIFEST_UNKNOWN'
          ? 'not found'
          : body.code === 'BLOB_UNKNOWN'
            ? 'blob not found'
            : 'not found (HTTP 404)'
    return new ImgsyncError('NOT_FOUND', `${base}: ${msg}`, opts)
  }
  if (status === 429) {
    return new ImgsyncError('RATE_LIMITED', `${base}: rate limited (HTTP 429)`, {
      ...opts,
      suggestions: ['lower --concurrency or retry later'],
    })
  }
  if (status === 413) {
    return new ImgsyncError(
      'REGISTRY_ERROR',
      `${base}: the request is larger than the registry (or a proxy in front of it) accepts (HTTP 413)`,
      { ...opts, suggestions: ['set a smaller upload.chunkSize for this registry'] },
    )
  }
  if (status === 415 || body.code === 'MANIFEST_INVALID' || body.code === 'UNSUPPORTED') {
    return new ImgsyncError(
      'UNSUPPORTED_MEDIA_TYPE',
      `${base}: the registry refused it (HTTP ${status})${detail}`,
      opts,
    )
  }
  if (body.code === 'DIGEST_INVALID' || body.code === 'SIZE_INVALID') {
    return new ImgsyncError('DIGEST_MISMATCH', `${base}: the registry saw different content${detail}`, opts)
  }
  if (body.code === 'NAME_INVALID' || body.code === 'TAG_INVALID') {
    return new ImgsyncError('INVALID_REFERENCE', `${base}: the registry refused the name${detail}`, opts)
  }
  return new ImgsyncError('REGISTRY_ERROR', `${base}: HTTP ${status}${detail}`, opts)
}

/** Turns a socket-level failure into NETWORK / TIMEOUT / TLS with the host named. */
export function errorForNetwork(err: unknown, host: string, what: string): ImgsyncError {
  if (isImgsyncError(err)) return err
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } }
  const code = e?.code ?? e?.cause?.code ?? ''
  const message = e?.cause?.message ?? e?.message ?? String(err)
  if (
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT'
  ) {
    return new ImgsyncError('TIMEOUT', `${host}: ${what}: no answer in time (${code})`, {
      temporary: true,
      suggestions: [
        'check the network, or raise IMGSYNC_TIMEOUT (seconds; default 30 for an answer, 60 for an idle body)',
      ],
    })
  }
  if (code === 'UND_ERR_ABORTED' || code === 'ABORT_ERR') {
    return new ImgsyncError('INTERRUPTED', `${host}: ${what}: stopped (imgsync is stopping)`)
  }
  if (!code && (err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError)) {
    // not a network failure at all: a bug, which must not be recorded as one
    return new ImgsyncError('INTERNAL', `${host}: ${what}: ${message}`, {
      cause: err,
      suggestions: ['run again with IMGSYNC_DEBUG=1 for a stack trace and report it'],
    })
  }
  if (code === 'UND_ERR_DESTROYED') {
    // imgsync closed its own connections (stopping after a signal): retrying cannot help
    return new ImgsyncError('NETWORK', `${host}: ${what}: connection closed (imgsync is stopping)`)
  }
  const unreachable =
    code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'EAI_AGAIN'
  // a host named like ssl.example.com that does not resolve is a network problem, not TLS
  if (!unreachable && (TLS_ERROR.test(code) || (!code && TLS_ERROR.test(message)))) {
    // OpenSSL reasons arrive as "<hex>:error:<hex>:SSL routines:<fn>:<reason>:<file>:<line>:\n": keep the reason
    const first = message.split('\n')[0] ?? message
    const reason = /:SSL routines:[^:]*:([^:]+):/.exec(first)?.[1] ?? first
    if (/wrong version number|packet length too long|http request/i.test(reason)) {
      return new ImgsyncError('TLS', `${host}: TLS handshake failed (${reason}): it answers plain HTTP`, {
        suggestions: [
          'leave out its CA (tls.ca / --src-ca / --dst-ca), or say tls.plainHttp: true / --src-plain-http / --dst-plain-http',
        ],
      })
    }
    return new ImgsyncError('TLS', `${host}: TLS handshake failed: ${reason}`, {
      suggestions: [
        `give the CA file that signed its certificate: registries.<name>.tls.ca, or --src-ca / --dst-ca`,
        'only for a test registry: tls.insecure: true, or --src-insecure / --dst-insecure',
      ],
    })
  }
  return new ImgsyncError(
    'NETWORK',
    `${host}: ${what}: ${unreachable ? 'cannot connect' : 'connection failed'} (${code || message})`,
    {
      temporary: true,
      suggestions: unreachable ? [`check that ${host} is the right host and port and is reachable`] : [],
    },
  )
}
