// The one shape of every error a user sees: `imgsync: error CODE: message (what to do)` on stderr,
// or a JSON error document on stdout with --json; oclif's own errors are turned into it too.
import { Errors } from '@oclif/core'
import { ImgsyncError, isImgsyncError } from '../errors.js'
import { redact } from '../log.js'
import { closest } from '../text.js'

export type JsonError = { error: { code: string; message: string; suggestions: string[] } }

/** The one error line (with its newline), secrets redacted. */
export function errorLine(e: ImgsyncError): string {
  const hint = e.suggestions.length > 0 ? ` (${e.suggestions.join('; ')})` : ''
  return redact(`imgsync: error ${e.code}: ${e.message}${hint}\n`)
}

export function errorJson(e: ImgsyncError): JsonError {
  return { error: { code: e.code, message: redact(e.message), suggestions: e.suggestions } }
}

/** `did you mean …?` for a mistyped word, or nothing. */
export function didYouMean(word: string, candidates: readonly string[], show = (c: string) => c): string[] {
  const near = closest(word, candidates)
  return near.length > 0 ? [`did you mean ${near.map(show).join(' or ')}?`] : []
}

/**
 * oclif's parse errors (CLIError) become INVALID_ARGUMENT; an unknown flag says which flags were
 * meant (`flags`: the command's flag names); anything unexpected is INTERNAL, still one line.
 */
export function asImgsyncError(err: unknown, flags: readonly string[] = []): ImgsyncError {
  if (isImgsyncError(err)) return err
  const unknown = (err as { flags?: unknown } | undefined)?.flags
  if (err instanceof Errors.CLIError && Array.isArray(unknown) && unknown.length > 0) {
    const given = unknown.map(String)
    const names = given.map((f) => f.replace(/^-+/, '').split('=')[0]!)
    return new ImgsyncError(
      'INVALID_ARGUMENT',
      `unknown flag${given.length > 1 ? 's' : ''} ${given.join(', ')}`,
      {
        suggestions: [...names.flatMap((n) => didYouMean(n, flags, (f) => `--${f}`)), 'see --help'],
      },
    )
  }
  const first = String((err as Error | undefined)?.message ?? err)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^See more help/.test(l))
  // a flag's own parse function failing arrives as whatever it threw, under "Parsing --flag"
  if (err instanceof Errors.CLIError || /^Parsing --/.test(first[0] ?? '')) {
    // "Parsing --concurrency" / "Missing 1 required arg:" say what is wrong on the next line
    const head = first[0] ?? 'invalid arguments'
    const line =
      first[1] !== undefined && (/^Parsing /.test(head) || head.endsWith(':'))
        ? `${head.replace(/\s*:?$/, ':')} ${first[1].replace(/\s+/g, ' ')}`
        : head
    return new ImgsyncError('INVALID_ARGUMENT', line.replace(/^The following errors? occurred:\s*/, ''), {
      suggestions: ['see --help'],
    })
  }
  return new ImgsyncError('INTERNAL', first.join(' ') || 'unexpected error', {
    suggestions: ['run again with IMGSYNC_DEBUG=1 for a stack trace and report it'],
  })
}
