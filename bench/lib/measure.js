// Runs one command and measures its wall time and peak RSS.
// Peak RSS comes from GNU time (`/usr/bin/time -f %M`: the largest resident set of the process and of
// the descendants it waited for, so a shell pipeline reports its largest member). Without GNU time,
// /proc/PID/status VmHWM of the direct child is polled every 50 ms instead.
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'

const GNU_TIME = '/usr/bin/time'
const KEEP_OUTPUT = 64 * 1024
let counter = 0

function tail(chunks) {
  const text = Buffer.concat(chunks).toString('utf8')
  return text.length > KEEP_OUTPUT ? text.slice(-KEEP_OUTPUT) : text
}

function vmHwmKiB(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) : 0
  } catch {
    return 0
  }
}

/**
 * @param {string} cmd
 * @param {string[]} args
 * @param {{ env?: Record<string, string>, cwd?: string, tmp: string, timeoutMs?: number }} opts
 * @returns {Promise<{ code: number, wallMs: number, rssKiB: number, stdout: string, stderr: string }>}
 */
export async function measure(cmd, args, opts) {
  const gnuTime = existsSync(GNU_TIME)
  const rssFile = join(opts.tmp, `rss-${process.pid}-${counter++}.txt`)
  const [file, argv] = gnuTime ? [GNU_TIME, ['-f', '%M', '-o', rssFile, cmd, ...args]] : [cmd, args]
  const stdout = []
  const stderr = []
  let polled = 0
  const t0 = process.hrtime.bigint()
  const child = spawn(file, argv, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout.on('data', (c) => stdout.push(c))
  child.stderr.on('data', (c) => stderr.push(c))
  const poll = gnuTime
    ? undefined
    : setInterval(() => {
        polled = Math.max(polled, vmHwmKiB(child.pid))
      }, 50)
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20 * 60_000)
  const code = await new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (c, signal) => resolve(c ?? (signal ? 128 : 1)))
  }).finally(() => {
    clearTimeout(timer)
    if (poll) clearInterval(poll)
  })
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6
  let rssKiB = polled
  if (gnuTime) {
    // on a non-zero exit GNU time writes "Command exited with non-zero status N" first
    const lines = (await readFile(rssFile, 'utf8').catch(() => '')).trim().split('\n')
    rssKiB = Number(lines.at(-1)) || 0
    await rm(rssFile, { force: true })
  }
  return { code, wallMs, rssKiB, stdout: tail(stdout), stderr: tail(stderr) }
}

/**
 * The part of a run record every scenario keeps of a measurement: which tool, its exit, wall time
 * (0.1 ms) and peak RSS.
 * @param {string} tool
 * @param {{ code: number, wallMs: number, rssKiB: number }} r
 */
export function runRecord(tool, r) {
  return { tool, ok: r.code === 0, code: r.code, wallMs: Math.round(r.wallMs * 10) / 10, rssKiB: r.rssKiB }
}

export function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return Number.NaN
  const mid = Math.floor(v.length / 2)
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2
}
