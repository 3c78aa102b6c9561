// Every environment variable imgsync reads, read here and only here: the process environment is
// copied once when a command starts, each variable is checked the first time it is needed (a bad
// IMGSYNC_TIMEOUT fails the commands that use it, not `rule list`), and the rest of imgsync is
// handed plain values. README "Environment" lists them all.
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { ImgsyncError } from '../errors.js'
import type { LogLevel } from '../log.js'
import { DEFAULT_ROTATION, type Rotation } from '../records/store.js'
import type { Credentials } from '../registry/auth.js'
import { DEFAULT_CONFIG_PATH } from '../rules/default-path.js'
import type { CacheSettings, NetworkSettings } from '../sync/run-context.js'
import { parseByteSize } from '../text.js'

export type Env = Readonly<Record<string, string | undefined>>

const DAY_SECONDS = 24 * 60 * 60
const OFF = new Set(['off', '0', 'false', 'no'])
const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug']

function invalid(name: string, value: string, want: string, fix: string): ImgsyncError {
  return new ImgsyncError('INVALID_ARGUMENT', `${name}="${value}" is not ${want}`, { suggestions: [fix] })
}

export class Settings {
  private networkCache: NetworkSettings | undefined

  /** `env`: a copy of the environment (tests pass their own). */
  constructor(readonly env: Env) {}

  /** The settings of this process: the only place imgsync reads process.env. */
  static fromProcess(): Settings {
    return new Settings({ ...process.env })
  }

  private text(name: string): string | undefined {
    const v = this.env[name]?.trim()
    return v === '' ? undefined : v
  }

  /** A number from the variable `name`, undefined when it is unset; one that fails `ok` is an error. */
  private number(name: string, ok: (n: number) => boolean, want: string, fix: string): number | undefined {
    const text = this.text(name)
    if (text === undefined) return undefined
    const n = Number(text)
    if (!Number.isFinite(n) || !ok(n)) throw invalid(name, text, want, fix)
    return n
  }

  /**
   * IMGSYNC_TIMEOUT (seconds: an answer, or an idle body), IMGSYNC_RETRIES (after the first try),
   * IMGSYNC_RATE_LIMIT_WAIT (seconds one request may wait out rate limits).
   */
  get network(): NetworkSettings {
    if (this.networkCache) return this.networkCache
    const out: NetworkSettings = {}
    const secs = this.number(
      'IMGSYNC_TIMEOUT',
      (n) => n > 0 && n <= DAY_SECONDS,
      'a number of seconds',
      'set IMGSYNC_TIMEOUT to seconds between 0 and 86400 (e.g. 30), or unset it',
    )
    if (secs !== undefined) out.timeoutMs = Math.max(1, Math.round(secs * 1000))
    const retries = this.number(
      'IMGSYNC_RETRIES',
      (n) => Number.isInteger(n) && n >= 0 && n <= 20,
      'a whole number from 0 to 20',
      'set IMGSYNC_RETRIES to 0-20 (default 5), or unset it',
    )
    if (retries !== undefined) out.retries = retries
    const wait = this.number(
      'IMGSYNC_RATE_LIMIT_WAIT',
      (n) => n >= 0 && n <= DAY_SECONDS,
      'a number of seconds',
      'set IMGSYNC_RATE_LIMIT_WAIT to seconds from 0 to 86400 (default 300), or unset it',
    )
    if (wait !== undefined) out.rateLimitWaitMs = Math.round(wait * 1000)
    this.networkCache = out
    return out
  }

  /** `--records`, else IMGSYNC_RECORDS, else $XDG_STATE_HOME/imgsync/records.jsonl. */
  recordsPath(flag?: string): string {
    if (flag) return flag
    const set = this.env.IMGSYNC_RECORDS
    if (set) return set
    const state = this.env.XDG_STATE_HOME || join(this.home, '.local', 'state')
    return join(state, 'imgsync', 'records.jsonl')
  }

  /** `--config`, else IMGSYNC_CONFIG, else ./imgsync.yaml. */
  configPath(flag?: string): string {
    return flag || this.env.IMGSYNC_CONFIG || DEFAULT_CONFIG_PATH
  }

  /**
   * Where runs keep state beside the records file: rule locks (IMGSYNC_LOCK_DIR), remembered
   * blob locations (IMGSYNC_BLOB_CACHE, `off`) and target tags (IMGSYNC_TAG_CACHE, `off`;
   * IMGSYNC_TAG_CACHE_TTL seconds, default a day).
   */
  caches(recordsPath: string): CacheSettings {
    const beside = (name: string) => join(dirname(recordsPath), name)
    const tagCache = this.text('IMGSYNC_TAG_CACHE')
    const ttl =
      this.number(
        'IMGSYNC_TAG_CACHE_TTL',
        (n) => n >= 0,
        'a number of seconds',
        'set it to seconds (e.g. 3600; 0 trusts no remembered tag), or unset it for 24 h',
      ) ?? DAY_SECONDS
    const blobCache = this.env.IMGSYNC_BLOB_CACHE
    return {
      lockDir: this.env.IMGSYNC_LOCK_DIR ?? beside('locks'),
      blobLocations: blobCache === 'off' ? 'off' : blobCache || beside('blob-locations.tsv'),
      targetTags: tagCache && OFF.has(tagCache.toLowerCase()) ? 'off' : tagCache || beside('target-tags.tsv'),
      targetTagsTtlSeconds: ttl,
    }
  }

  /** IMGSYNC_RECORDS_MAX_SIZE (k/M/G) and IMGSYNC_RECORDS_KEEP: when and how records files rotate. */
  get rotation(): Rotation {
    const size = this.text('IMGSYNC_RECORDS_MAX_SIZE')
    const maxBytes = size === undefined ? DEFAULT_ROTATION.maxBytes : parseByteSize(size)
    if (maxBytes === undefined) {
      throw invalid(
        'IMGSYNC_RECORDS_MAX_SIZE',
        size!,
        'a size',
        'write bytes or e.g. 100M, 1G (default 100M)',
      )
    }
    const n =
      this.number(
        'IMGSYNC_RECORDS_KEEP',
        (k) => Number.isInteger(k) && k >= 0 && k <= 1000,
        'a whole number from 0 to 1000',
        'set it to the rotated files to keep (default 10)',
      ) ?? DEFAULT_ROTATION.keep
    return { maxBytes, keep: n }
  }

  /** `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
  get dockerConfig(): string {
    const dir = this.env.DOCKER_CONFIG
    return dir ? join(dir, 'config.json') : join(this.home, '.docker', 'config.json')
  }

  /** IMGSYNC_SRC_USERNAME / _PASSWORD (or DST): ad-hoc credentials, never from the command line. */
  credentials(side: 'src' | 'dst'): Credentials | undefined {
    const prefix = `IMGSYNC_${side.toUpperCase()}_`
    const username = this.env[`${prefix}USERNAME`]
    if (!username) return undefined
    return { username, password: this.env[`${prefix}PASSWORD`] }
  }

  /** Secrets that must never be printed, whether or not they are used. */
  get secrets(): string[] {
    return ['IMGSYNC_SRC_PASSWORD', 'IMGSYNC_DST_PASSWORD', 'IMGSYNC_WEBHOOK_TOKEN']
      .map((name) => this.env[name])
      .filter((v): v is string => v !== undefined)
  }

  get webhookToken(): string | undefined {
    return this.text('IMGSYNC_WEBHOOK_TOKEN')
  }

  /** IMGSYNC_LOG_LEVEL, when it names a level. */
  get logLevel(): LogLevel | undefined {
    const level = this.text('IMGSYNC_LOG_LEVEL')
    return LOG_LEVELS.find((l) => l === level)
  }

  /** IMGSYNC_DEBUG: print the stack of an INTERNAL error. */
  get debug(): boolean {
    return Boolean(this.text('IMGSYNC_DEBUG'))
  }

  private get home(): string {
    return this.env.HOME || homedir()
  }
}
