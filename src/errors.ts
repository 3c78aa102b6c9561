import { printable } from './text.js'

// Stable error codes: they appear in records, in --json and in the README. Never rename one.
export const ErrorCodes = [
  'IMAGE_EXISTS',
  'NOT_FOUND',
  'AUTH_FAILED',
  'DENIED',
  'RATE_LIMITED',
  'TIMEOUT',
  'NETWORK',
  'TLS',
  'DIGEST_MISMATCH',
  'UNSUPPORTED_MEDIA_TYPE',
  /** a manifest, index or referrers answer that is not the JSON it must be */
  'MANIFEST_INVALID',
  /** a registry's answer went past one of imgsync's documented bounds (size, depth, count) */
  'LIMIT_EXCEEDED',
  'INVALID_REFERENCE',
  'INVALID_ARGUMENT',
  'CONFIG_INVALID',
  'RULE_NOT_FOUND',
  'RULE_DISABLED',
  'RULE_EXISTS',
  'NOTHING_MATCHED',
  'CATALOG_UNAVAILABLE',
  'REGISTRY_ERROR',
  'LOCKED',
  'PRUNE_LIMIT',
  'INTERRUPTED',
  /** a bug in imgsync: please report it */
  'INTERNAL',
] as const

export type ErrorCode = (typeof ErrorCodes)[number]

/** Process exit codes; the README documents the same table. */
export const ExitCodes = {
  ok: 0,
  /** at least one item failed, or the task could not run against a registry */
  failed: 1,
  /** bad arguments, bad rule file, unknown rule */
  usage: 2,
  /** the filters selected nothing to sync */
  nothingMatched: 3,
  /** another run of the same rule holds the lock */
  locked: 4,
  /** stopped by SIGINT/SIGTERM; re-run to finish */
  interrupted: 130,
} as const

const usageCodes: ReadonlySet<ErrorCode> = new Set([
  'INVALID_REFERENCE',
  'INVALID_ARGUMENT',
  'CONFIG_INVALID',
  'RULE_NOT_FOUND',
  'RULE_DISABLED',
  'RULE_EXISTS',
])

export function exitCodeFor(code: ErrorCode): number {
  if (usageCodes.has(code)) return ExitCodes.usage
  if (code === 'NOTHING_MATCHED') return ExitCodes.nothingMatched
  if (code === 'LOCKED') return ExitCodes.locked
  if (code === 'INTERRUPTED') return ExitCodes.interrupted
  return ExitCodes.failed
}

export interface ImgsyncErrorOptions {
  suggestions?: string[]
  /** the registry's own error code (errors[].code), passed through as-is */
  registryCode?: string
  status?: number
  /** whether retrying the same request may succeed */
  temporary?: boolean
  /** how long the registry asked us to wait before trying again (Retry-After) */
  retryAfterMs?: number
  cause?: unknown
}

/** The one error type for user-facing failures: a code, a one-line message, what to do next. */
export class ImgsyncError extends Error {
  readonly code: ErrorCode
  readonly suggestions: string[]
  readonly registryCode?: string
  readonly status?: number
  readonly temporary: boolean
  readonly retryAfterMs?: number

  constructor(code: ErrorCode, message: string, opts: ImgsyncErrorOptions = {}) {
    // messages quote what registries say: keep them one printable line
    super(printable(message), opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'ImgsyncError'
    this.code = code
    this.suggestions = (opts.suggestions ?? []).map(printable)
    this.registryCode = opts.registryCode
    this.status = opts.status
    this.temporary = opts.temporary ?? false
    this.retryAfterMs = opts.retryAfterMs
  }

  get exitCode(): number {
    return exitCodeFor(this.code)
  }
}

export function isImgsyncError(err: unknown): err is ImgsyncError {
  return err instanceof ImgsyncError
}

/** Any thrown value as an ImgsyncError, so callers record a code and never a stack. */
export function toImgsyncError(err: unknown, fallback: ErrorCode = 'NETWORK'): ImgsyncError {
  if (err instanceof ImgsyncError) return err
  const message = err instanceof Error ? err.message : String(err)
  return new ImgsyncError(fallback, message, { cause: err })
}
