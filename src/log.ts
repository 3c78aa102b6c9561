// A small levelled logger to stderr. Everything it prints passes through redact(), so no
// credential, token or URL userinfo reaches a terminal or a CI log, and printableLines(), so no
// control character a registry sent does either.
import { printableLines } from './text.js'

export type LogLevel = 'error' | 'warn' | 'info' | 'debug'
const order: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 }

const secrets = new Set<string>()

/** Registers a value that must never be printed (passwords, tokens); short values are ignored. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 4) secrets.add(value)
}

/** Masks registered secrets, Authorization values, URL userinfo and token-like query params. */
export function redact(text: string): string {
  let out = text
  for (const s of secrets) out = out.split(s).join('<redacted>')
  out = out.replace(/(authorization"?\s*:?\s*"?)(basic|bearer)\s+[^\s",]+/gi, '$1$2 <redacted>')
  out = out.replace(/(\/\/)[^/@\s:]+:[^/@\s]+@/g, '$1<redacted>@')
  out = out.replace(/([?&](?:access_token|token|refresh_token|password)=)[^&\s]+/gi, '$1<redacted>')
  return out
}

// the command sets the level from --log-level / IMGSYNC_LOG_LEVEL before it does anything
let level: LogLevel = 'warn'
let sink: (line: string) => void = (line) => process.stderr.write(`${line}\n`)

export function setLogLevel(l: LogLevel): void {
  level = l
}

export function setLogSink(fn: (line: string) => void): void {
  sink = fn
}

function emit(l: LogLevel, msg: string): void {
  if (order[l] <= order[level]) sink(redact(printableLines(`${l === 'info' ? '' : `${l}: `}${msg}`)))
}

export const log = {
  error: (msg: string) => emit('error', msg),
  warn: (msg: string) => emit('warn', msg),
  info: (msg: string) => emit('info', msg),
  debug: (msg: string) => emit('debug', msg),
  enabled: (l: LogLevel) => order[l] <= order[level],
}

const warned = new Set<string>()
/** Warns once per distinct message (registry Warning headers, insecure TLS). */
export function warnOnce(msg: string): void {
  if (warned.has(msg)) return
  warned.add(msg)
  log.warn(msg)
}
