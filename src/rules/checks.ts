import { CronPattern } from 'croner'
import semver from 'semver'

// Small validators shared by the schema and the matchers. Each returns undefined when the value is
// fine, or a short reason (one line, no trailing period) that the caller puts after the field name.

/** Why a regular expression does not compile, or undefined. Rules use JavaScript RegExp syntax. */
export function regexError(source: string): string | undefined {
  try {
    new RegExp(source)
    return undefined
  } catch (err) {
    // V8 says `Invalid regular expression: /(/: Unterminated group`; the pattern is already in our message.
    const message = err instanceof Error ? err.message : String(err)
    return oneLine(message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, ''))
  }
}

/** Why a cron expression is not accepted by croner (5, 6 or 7 fields, or @daily-style nicknames). */
export function cronError(expression: string): string | undefined {
  try {
    new CronPattern(expression)
    return undefined
  } catch (err) {
    return oneLine((err instanceof Error ? err.message : String(err)).replace(/^CronPattern: /, ''))
  }
}

/** Why a time zone is not a valid IANA name, checked against the runtime's ICU data. */
export function timezoneError(zone: string): string | undefined {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone })
    return undefined
  } catch {
    return 'not an IANA time zone name (e.g. Asia/Shanghai, Europe/Berlin, UTC)'
  }
}

/** Why a semver range does not parse (loose: a `v` prefix is fine), or undefined. */
export function semverRangeError(range: string): string | undefined {
  if (range.trim() === '') return 'empty range'
  return semver.validRange(range, { loose: true }) === null
    ? 'not a semver range (e.g. ">=1.2 <2", "^1.4", "~2.0.1")'
    : undefined
}

const HOST_PATTERN =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$/

/** Why a string is not `host[:port]` (DNS name, IPv4 or [IPv6]), or undefined. */
export function hostError(host: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(host)) {
    return 'write the host without a scheme (use tls.plainHttp: true for plain HTTP)'
  }
  if (host.includes('/')) return 'a host has no path; put repository paths in rules[].source.namespace'
  const m = HOST_PATTERN.exec(host)
  if (!m) return 'expected host[:port], e.g. registry.example.com or 127.0.0.1:5000'
  if (m[1] !== undefined) {
    const port = Number(m[1])
    if (port < 1 || port > 65535) return `port ${m[1]} is out of range 1-65535`
  }
  return undefined
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim()
}
