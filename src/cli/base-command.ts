import { Command, Flags, type Interfaces } from '@oclif/core'
import { ExitCodes } from '../errors.js'
import { type LogLevel, registerSecret, setLogLevel } from '../log.js'
import { closeAllAgents } from '../registry/agents.js'
import { asImgsyncError, errorJson, errorLine, type JsonError } from './report.js'
import { Settings } from './settings.js'

export type { JsonError }

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
    return errorJson(asImgsyncError(err, this.flagNames()))
  }

  protected override async catch(err: Interfaces.CommandError): Promise<void> {
    const e = asImgsyncError(err, this.flagNames())
    process.exitCode = e.exitCode
    // a parse that failed was still attempted: no "did not parse its arguments" warning after the line
    this.parsed = true
    if (this.jsonEnabled()) {
      this.logJson(errorJson(e))
      return
    }
    process.stderr.write(errorLine(e))
    if (e.code === 'INTERNAL' && this.settings.debug) process.stderr.write(`${(err as Error).stack}\n`)
  }

  /** Every flag name and alias of this command, for `did you mean --dry-run?`. */
  private flagNames(): string[] {
    const flags = { ...this.ctor.baseFlags, ...this.ctor.flags } as Record<string, { aliases?: string[] }>
    const names = Object.entries(flags).flatMap(([name, f]) => [name, ...(f?.aliases ?? [])])
    return [...names, 'json', 'help']
  }

  protected override async finally(err: Error | undefined): Promise<void> {
    await closeAllAgents()
    // after a signal, work cut off at the end of the grace period (a retry waiting out a
    // Retry-After, a transfer being torn down) must not keep the process alive
    if (process.exitCode === ExitCodes.interrupted) setTimeout(() => process.exit(), 200).unref()
    return super.finally(err)
  }
}
