import { Command, Errors, Flags, type Interfaces } from '@oclif/core'
import { ExitCodes, ImgsyncError, isImgsyncError } from '../errors.js'
import { type LogLevel, redact, registerSecret, setLogLevel } from '../log.js'
import { closeAllAgents } from '../registry/agents.js'
import { Settings } from './settings.js'

export type JsonError = { error: { code: string; message: string; suggestions: string[] } }

/**
 * Every command extends this: `--json` from oclif, `--log-level`, and one place that turns any error
 * into a single coded line (or a JSON error document) with the documented exit code.
 */
export abstract class BaseCommand extends Command {
  static enableJsonFlag = true

  /** the environment, read once when the command starts */
  protected settings: Settings = Settings.fromProcess()

  static baseFlags = {
    'log-level': Flags.option({
      options: ['error', 'warn', 'info', 'debug'] as const,
      default: 'warn' as const,
      helpGroup: 'GLOBAL',
      summary: 'How much to log on stderr (debug shows each HTTP request, with secrets redacted).',
      env: 'IMGSYNC_LOG_LEVEL',
    })(),
  }

  protected async init(): Promise<void> {
    await super.init()
    const raw = this.argv
    const i = raw.indexOf('--log-level')
    const value = i >= 0 ? raw[i + 1] : raw.find((a) => a.startsWith('--log-level='))?.split('=')[1]
    const level = value ?? this.settings.logLevel
    if (level === 'error' || level === 'warn' || level === 'info' || level === 'debug')
      setLogLevel(level as LogLevel)
    for (const secret of this.settings.secrets) registerSecret(secret)
  }

  protected override logJson(json: unknown): void {
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
  }

  protected override toErrorJson(err: unknown): JsonError {
    const e = asImgsyncError(err)
    return { error: { code: e.code, message: redact(e.message), suggestions: e.suggestions } }
  }

  protected override async catch(err: Interfaces.CommandError): Promise<void> {
    const e = asImgsyncError(err)
    process.exitCode = e.exitCode
    if (this.jsonEnabled()) {
      this.logJson(this.toErrorJson(err))
      return
    }
    const hint = e.suggestions.length > 0 ? ` (${e.suggestions.join('; ')})` : ''
    process.stderr.write(redact(`imgsync: error ${e.code}: ${e.message}${hint}\n`))
    if (e.code === 'INTERNAL' && this.settings.debug) process.stderr.write(`${(err as Error).stack}\n`)
  }

  protected override async finally(err: Error | undefined): Promise<void> {
    await closeAllAgents()
    // after a signal, work cut off at the end of the grace period (a retry waiting out a
    // Retry-After, a transfer being torn down) must not keep the process alive
    if (process.exitCode === ExitCodes.interrupted) setTimeout(() => process.exit(), 200).unref()
    return super.finally(err)
  }
}

/** oclif's parse errors (CLIError) become INVALID_ARGUMENT; anything unexpected is INTERNAL, still one line. */
function asImgsyncError(err: unknown): ImgsyncError {
  if (isImgsyncError(err)) return err
  const first = String((err as Error | undefined)?.message ?? err)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^See more help/.test(l))
  if (err instanceof Errors.CLIError) {
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
