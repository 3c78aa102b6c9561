import { execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { constants } from 'node:os'
import { fileURLToPath } from 'node:url'

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const BIN = fileURLToPath(new URL('../../bin/run.js', import.meta.url))

export interface RunResult {
  /** Exit code; 128+signal when killed by a signal (so a timeout shows up as 137). */
  code: number
  stdout: string
  stderr: string
  timedOut: boolean
}

export interface RunOptions {
  env?: Record<string, string>
  cwd?: string
  timeoutMs?: number
  input?: string
}

/** Runs bin/run.js in a child node process. Never throws on a non-zero exit; check `code`. */
export function runImgsync(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return runNodeScript(BIN, args, opts)
}

/** runImgsync for any script; exported so the harness can test its own plumbing. */
export function runNodeScript(script: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: '1', ...opts.env }
  // Vitest workers may inherit FORCE_COLOR, which beats NO_COLOR in chalk; keep output plain unless asked.
  if (!opts.env || !('FORCE_COLOR' in opts.env)) delete env.FORCE_COLOR
  const timeoutMs = opts.timeoutMs ?? 60_000

  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      cwd: opts.cwd ?? REPO_ROOT,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    const stdout: Buffer[] = []
    const stderr: Buffer[] = []
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, timeoutMs)
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      let err = Buffer.concat(stderr).toString('utf8')
      if (timedOut) err += `\n[harness] ${script} ${args.join(' ')} killed after ${timeoutMs}ms\n`
      resolve({
        code: code ?? 128 + (signal ? constants.signals[signal] : 0),
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: err,
        timedOut,
      })
    })
    // A CLI that reads stdin must see EOF rather than hang the test.
    child.stdin.on('error', () => {})
    child.stdin.end(opts.input ?? '')
  })
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
