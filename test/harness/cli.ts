// The one way tests run the imgsync CLI (and other node scripts or commands that run it): every child
// gets an isolated environment, so that nothing a developer has set up on this machine (a docker login,
// ~/.local/state/imgsync, IMGSYNC_* in the shell) reaches it, and nothing a test runs writes there.
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { constants, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const BIN = fileURLToPath(new URL('../../bin/run.js', import.meta.url))
/** GNU time, which reports a child's peak RSS (`measureRss`). */
export const GNU_TIME = '/usr/bin/time'
const RSS_MARK = 'imgsync-harness-peak-rss-kib='

/**
 * The variables every child gets pointed at a fresh temporary directory (removed when the child has
 * ended): HOME, the XDG base directories (XDG_STATE_HOME holds imgsync's default records, the others
 * oclif's config, cache and plugins) and DOCKER_CONFIG, an empty directory (no docker login).
 */
export const ISOLATED_VARIABLES = [
  'HOME',
  'XDG_STATE_HOME',
  'XDG_CONFIG_HOME',
  'XDG_CACHE_HOME',
  'XDG_DATA_HOME',
  'DOCKER_CONFIG',
] as const

export interface RunResult {
  /** Exit code; 128+signal when killed by a signal (so a timeout shows up as 137). */
  code: number
  stdout: string
  /** stderr (without GNU time's line when measureRss) */
  stderr: string
  timedOut: boolean
  /** from the spawn to the end of the child */
  ms: number
  /** peak resident set size in KiB, from GNU time (measureRss only) */
  rssKiB?: number
}

export interface RunOptions {
  /**
   * Variables on top of the isolated environment; they win over it, so a test may set its own HOME,
   * DOCKER_CONFIG, FORCE_COLOR or IMGSYNC_* variable. A value of undefined removes the variable
   * (DOCKER_CONFIG: undefined makes imgsync fall back to the isolated HOME's ~/.docker/config.json).
   */
  env?: Record<string, string | undefined>
  /** default: the repository root */
  cwd?: string
  /**
   * SIGKILL (the process group, with processGroup) after this many ms, and report timedOut.
   * Default: 60 s for runImgsync/runNodeScript, none for the start* functions.
   */
  timeoutMs?: number
  /** written to stdin, then EOF; without it stdin is at EOF from the start */
  input?: string
  /** Run under GNU time (/usr/bin/time) and report the peak RSS as rssKiB. Implies processGroup. */
  measureRss?: boolean
  /**
   * Start the child in its own process group (detached), so that killGroup() and the deadline also
   * reach what it started (a shell's children, the node under GNU time).
   */
  processGroup?: boolean
  /** false: start from an environment with only PATH instead of the parent's (a pod-like run) */
  inheritEnv?: boolean
  /** keep at most (about) this many characters of each of stdout and stderr; default: everything */
  maxOutputChars?: number
}

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
  /** Date.now() when the process ended */
  at: number
}

/** A child started by startImgsync / startNodeScript / startCommand. */
export interface CliProcess {
  child: ChildProcess
  /** what it has written so far */
  stdout(): string
  stderr(): string
  /** stdout and stderr interleaved in the order they arrived */
  output(): string
  /** once it has ended and its output is complete (and its temporary directories are gone) */
  exited: Promise<Exit>
  /** the same, as a RunResult */
  result: Promise<RunResult>
  /** a signal to the child itself */
  kill(signal?: NodeJS.Signals): void
  /** a signal to its process group with processGroup (measureRss), else to the child */
  killGroup(signal?: NodeJS.Signals): void
  /**
   * Resolves with output() once it matches; rejects (with the output) when the child ends first or
   * after timeoutMs.
   */
  waitForOutput(pattern: RegExp | string, timeoutMs?: number): Promise<string>
}

/** Temporary environment roots of children that have not ended yet; removed at exit at the latest. */
const liveRoots = new Set<string>()
process.once('exit', () => {
  for (const root of liveRoots) rmSync(root, { recursive: true, force: true })
})

/**
 * The environment of a child: the parent's (or only PATH, with inheritEnv false) without FORCE_COLOR
 * (vitest workers may inherit it, and it beats NO_COLOR in chalk) and without any IMGSYNC_* variable;
 * NO_COLOR=1; ISOLATED_VARIABLES under `root`; then opts.env.
 */
function isolatedEnv(root: string, opts: RunOptions): Record<string, string> {
  const base: Record<string, string | undefined> =
    opts.inheritEnv === false ? { PATH: process.env.PATH } : { ...process.env }
  for (const name of Object.keys(base)) if (name.startsWith('IMGSYNC_')) delete base[name]
  delete base.FORCE_COLOR
  const dirs: Record<(typeof ISOLATED_VARIABLES)[number], string> = {
    HOME: join(root, 'home'),
    XDG_STATE_HOME: join(root, 'state'),
    XDG_CONFIG_HOME: join(root, 'config'),
    XDG_CACHE_HOME: join(root, 'cache'),
    XDG_DATA_HOME: join(root, 'data'),
    DOCKER_CONFIG: join(root, 'docker'),
  }
  for (const dir of Object.values(dirs)) mkdirSync(dir)
  const merged: Record<string, string | undefined> = { ...base, ...dirs, NO_COLOR: '1', ...opts.env }
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(merged)) if (value !== undefined) env[name] = value
  return env
}

/**
 * An isolated environment (as every child gets: see isolatedEnv) for a process the harness does not
 * start itself, e.g. one inside a terminal (test/harness/terminal.ts); dispose() removes its
 * directories, and so does the end of the test process.
 */
export function isolatedEnvironment(opts: RunOptions = {}): { env: Record<string, string>; dispose(): void } {
  const root = mkdtempSync(join(tmpdir(), 'imgsync-cli-env-'))
  liveRoots.add(root)
  try {
    return {
      env: isolatedEnv(root, opts),
      dispose() {
        liveRoots.delete(root)
        rmSync(root, { recursive: true, force: true })
      },
    }
  } catch (err) {
    liveRoots.delete(root)
    rmSync(root, { recursive: true, force: true })
    throw err
  }
}

/** Starts `command args` with an isolated environment (see RunOptions); never throws on a bad exit. */
export function startCommand(command: string, args: string[], opts: RunOptions = {}): CliProcess {
  return launch(command, args, `${command} ${args.join(' ')}`, opts)
}

/** Starts a node script (see startCommand). */
export function startNodeScript(script: string, args: string[], opts: RunOptions = {}): CliProcess {
  return launch(process.execPath, [script, ...args], `${script} ${args.join(' ')}`, opts)
}

/** Starts bin/run.js, e.g. a long-running `imgsync serve` or a sync to interrupt. */
export function startImgsync(args: string[], opts: RunOptions = {}): CliProcess {
  return startNodeScript(BIN, args, opts)
}

/** Runs bin/run.js to its end (default deadline 60 s). Never throws on a non-zero exit; check `code`. */
export function runImgsync(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return runNodeScript(BIN, args, opts)
}

/** runImgsync for any node script; exported so the harness can test its own plumbing. */
export function runNodeScript(script: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return startNodeScript(script, args, { ...opts, timeoutMs: opts.timeoutMs ?? 60_000 }).result
}

function launch(command: string, args: string[], label: string, opts: RunOptions): CliProcess {
  const root = mkdtempSync(join(tmpdir(), 'imgsync-cli-env-'))
  liveRoots.add(root)
  let child: ChildProcess
  const group = opts.processGroup === true || opts.measureRss === true
  try {
    const env = isolatedEnv(root, opts)
    const [file, argv] = opts.measureRss
      ? [GNU_TIME, ['-q', '-f', `${RSS_MARK}%M`, command, ...args]]
      : [command, args]
    child = spawn(file, argv, {
      cwd: opts.cwd ?? REPO_ROOT,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: group,
    })
  } catch (err) {
    liveRoots.delete(root)
    rmSync(root, { recursive: true, force: true })
    throw err
  }
  const started = Date.now()
  const limit = opts.maxOutputChars ?? Number.POSITIVE_INFINITY
  let out = ''
  let err = ''
  let both = ''
  const listeners = new Set<() => void>()
  const collect = (text: string, which: 'out' | 'err') => {
    if (which === 'out' && out.length < limit) out += text
    if (which === 'err' && err.length < limit) err += text
    if (both.length < 2 * limit) both += text
    for (const l of listeners) l()
  }
  // decoded by the streams, so that a character split between two chunks stays whole
  child.stdout!.setEncoding('utf8').on('data', (text: string) => collect(text, 'out'))
  child.stderr!.setEncoding('utf8').on('data', (text: string) => collect(text, 'err'))

  const kill = (signal: NodeJS.Signals = 'SIGTERM') => {
    child.kill(signal)
  }
  const killGroup = (signal: NodeJS.Signals = 'SIGKILL') => {
    if (!group || child.pid === undefined) {
      child.kill(signal)
      return
    }
    try {
      process.kill(-child.pid, signal)
    } catch {
      // already gone
    }
  }

  let timedOut = false
  const timer =
    opts.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true
          killGroup('SIGKILL')
        }, opts.timeoutMs)

  let ended: Exit | undefined
  /** the child has ended and its output is complete */
  let closed = false
  child.once('exit', (code, signal) => {
    ended = { code, signal, at: Date.now() }
  })
  const exited = new Promise<Exit>((resolve, reject) => {
    child.once('error', (e) => {
      clearTimeout(timer)
      liveRoots.delete(root)
      void rm(root, { recursive: true, force: true })
        .catch(() => undefined)
        .then(() => reject(e))
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      const exit = ended ?? { code, signal, at: Date.now() }
      closed = true
      for (const l of listeners) l()
      liveRoots.delete(root)
      void rm(root, { recursive: true, force: true })
        .catch(() => undefined)
        .then(() => resolve(exit))
    })
  })
  const result = exited.then((exit): RunResult => {
    let stderr = err
    let rssKiB: number | undefined
    if (opts.measureRss) {
      const mark = stderr.lastIndexOf(RSS_MARK)
      if (mark !== -1) {
        rssKiB = Number.parseInt(stderr.slice(mark + RSS_MARK.length), 10)
        stderr = stderr.slice(0, mark)
      }
    }
    if (timedOut) stderr += `\n[harness] ${label} killed after ${opts.timeoutMs}ms\n`
    return {
      code: exit.code ?? 128 + (exit.signal ? constants.signals[exit.signal] : 0),
      stdout: out,
      stderr,
      timedOut,
      ms: exit.at - started,
      rssKiB,
    }
  })
  // a caller that only awaits `exited` must not see an unhandled rejection from `result`
  result.catch(() => undefined)

  const waitForOutput = (pattern: RegExp | string, timeoutMs = 30_000) =>
    new Promise<string>((resolve, reject) => {
      const matches = () => (typeof pattern === 'string' ? both.includes(pattern) : pattern.test(both))
      const finish = (error?: string) => {
        listeners.delete(check)
        clearTimeout(deadline)
        if (error === undefined) resolve(both)
        else reject(new Error(`${label}: no ${pattern} in the output ${error}:\n${both}`))
      }
      const check = () => {
        if (matches()) finish()
        else if (closed) finish('before it ended')
      }
      const deadline = setTimeout(() => finish(`after ${timeoutMs} ms`), timeoutMs)
      listeners.add(check)
      check()
    })

  // A CLI that reads stdin must see EOF rather than hang the test.
  child.stdin!.on('error', () => {})
  child.stdin!.end(opts.input ?? '')

  return {
    child,
    stdout: () => out,
    stderr: () => err,
    output: () => both,
    exited,
    result,
    kill,
    killGroup,
    waitForOutput,
  }
}

export function sha256Digest(buf: Uint8Array): string {
  return `sha256:${createHash('sha256').update(buf).digest('hex')}`
}

export interface SkopeoOptions {
  /** 'user:pass' or { username, password }; without it skopeo runs with --no-creds. */
  creds?: string | { username: string; password: string }
  timeoutMs?: number
  /** docker:// (default) or oci: (ref is then DIR:TAG) */
  transport?: 'docker' | 'oci'
}

/** `skopeo inspect --raw` of a docker:// reference: the manifest bytes exactly as the registry serves them. */
export function skopeoInspectRaw(ref: string, opts: SkopeoOptions = {}): Promise<Buffer> {
  const creds =
    typeof opts.creds === 'string'
      ? ['--creds', opts.creds]
      : opts.creds
        ? ['--creds', `${opts.creds.username}:${opts.creds.password}`]
        : // Keep credentials from the developer's auth.json out of the check.
          ['--no-creds']
  const target = opts.transport === 'oci' ? `oci:${ref}` : `docker://${ref}`
  const args =
    opts.transport === 'oci'
      ? ['inspect', '--raw', target]
      : ['inspect', '--raw', '--tls-verify=false', ...creds, target]
  return new Promise((resolve, reject) => {
    execFile(
      'skopeo',
      args,
      { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024, timeout: opts.timeoutMs ?? 30_000 },
      (err, stdout, stderr) => {
        if (err) {
          reject(
            new Error(
              `skopeo inspect --raw ${target} failed: ${stderr.toString('utf8').trim() || err.message}`,
            ),
          )
          return
        }
        resolve(stdout)
      },
    )
  })
}
