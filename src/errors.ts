import { printable } from './text.js'

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

/**
 * Stable error codes, each with the exit code it means for a command. They appear in records, in
 * --json and in the README. Never rename one.
 */
const CODES = {
  IMAGE_EXISTS: 'failed',
  NOT_FOUND: 'failed',
  AUTH_FAILED: 'failed',
  DENIED: 'failed',
  RATE_LIMITED: 'failed',
  TIMEOUT: 'failed',
  NETWORK: 'failed',
  TLS: 'failed',
  DIGEST_MISMATCH: 'failed',
  UNSUPPORTED_MEDIA_TYPE: 'failed',
  /** a manifest, index or referrers answer that is not the JSON it must be */
  MANIFEST_INVALID: 'failed',
  /** a registry's answer went past one of imgsync's documented bounds (size, depth, count) */
  LIMIT_EXCEEDED: 'failed',
  INVALID_REFERENCE: 'usage',
  INVALID_ARGUMENT: 'usage',
  CONFIG_INVALID: 'usage',
  RULE_NOT_FOUND: 'usage',
  RULE_DISABLED: 'usage',
  RULE_EXISTS: 'usage',
  NOTHING_MATCHED: 'nothingMatched',
  CATALOG_UNAVAILABLE: 'failed',
  REGISTRY_ERROR: 'failed',
  LOCKED: 'locked',
  PRUNE_LIMIT: 'failed',
  INTERRUPTED: 'interrupted',
  /** a bug in imgsync: please report it */
  INTERNAL: 'failed',
} as const satisfies Record<string, keyof typeof ExitCodes>

export type ErrorCode = keyof typeof CODES

export function exitCodeFor(code: ErrorCode): number {
  return ExitCodes[CODES[code]]
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
  /** set when a retry budget was spent on this failure: an outer loop must not retry it again */
  retriesSpent = false

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

/**
 * Any thrown value as an ImgsyncError, so callers record a code and never a stack. Registry and
 * file system failures arrive coded already; anything else is a bug in imgsync (INTERNAL), not a
 * network error.
 */
export function toImgsyncError(err: unknown, fallback: ErrorCode = 'INTERNAL'): ImgsyncError {
  if (err instanceof ImgsyncError) return err
  const message = err instanceof Error ? err.message : String(err)
  const suggestions =
    fallback === 'INTERNAL'
      ? ['a bug in imgsync: run again with IMGSYNC_DEBUG=1 for the stack and report it']
      : []
  return new ImgsyncError(fallback, message, { cause: err, suggestions })
}
