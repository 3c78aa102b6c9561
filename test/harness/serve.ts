// `imgsync serve` as a test starts it: its own port, webhook token and lock directory; helpers to
// wait for it, read its records and its /metrics and /healthz.
import type { ChildProcess } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startImgsync } from './cli.js'
import { freePort, type RunningRegistry, startRegistry } from './registry.js'

export const WEBHOOK_TOKEN = 'webhook-token-for-tests'

export interface Served {
  child: ChildProcess
  url: string
  stderr: () => string
  exited: Promise<number>
}

/** A registry that notifies serve's distribution webhook on `port` of each push (with the test token). */
export function startNotifyingRegistry(port: number): Promise<RunningRegistry> {
  return startRegistry({
    notifications: { url: `http://127.0.0.1:${port}/webhooks/distribution`, token: WEBHOOK_TOKEN },
  })
}

/** `imgsync serve` on `port` with the webhook token, a lock directory under `dir` and `records`. */
export function startServe(
  config: string,
  port: number,
  records: string,
  dir: string,
  extra: string[] = [],
): Served {
  const p = startImgsync(
    ['serve', '-c', config, '--listen', `127.0.0.1:${port}`, '--records', records, ...extra],
    { env: { IMGSYNC_WEBHOOK_TOKEN: WEBHOOK_TOKEN, IMGSYNC_LOCK_DIR: join(dir, `locks-${port}`) } },
  )
  return {
    child: p.child,
    url: `http://127.0.0.1:${port}`,
    stderr: p.stderr,
    exited: p.exited.then((e) => e.code ?? -1),
  }
}

/** Starts serve (on `port`, default a free one) and waits until /healthz answers. */
export async function serveReady(
  config: string,
  records: string,
  dir: string,
  extra: string[] = [],
  port?: number,
): Promise<Served> {
  const s = startServe(config, port ?? (await freePort()), records, dir, extra)
  try {
    await waitFor('serve /healthz', async () => (await fetch(`${s.url}/healthz`)).ok || undefined, 15_000)
  } catch (err) {
    s.child.kill('SIGKILL')
    throw new Error(`${(err as Error).message}; serve said: ${s.stderr()}`)
  }
  return s
}

/** Polls `fn` until it gives a value (not undefined/false), for at most `ms`. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await fn().catch(() => undefined)
    if (v !== undefined && v !== false) return v
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

// biome-ignore lint/suspicious/noExplicitAny: records are checked field by field by the tests
export type RecordLine = { type: string; taskId: string; status: string; [k: string]: any }

export async function readRecords(file: string): Promise<RecordLine[]> {
  const text = await readFile(file, 'utf8').catch(() => '')
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as RecordLine)
}

/** Final task lines (the last line per task id). */
export function finalTasks(records: RecordLine[]): RecordLine[] {
  const m = new Map<string, RecordLine>()
  for (const r of records) if (r.type === 'task') m.set(r.taskId, r)
  return [...m.values()]
}

/** /metrics as a map from `name{labels}` to value. */
export async function metrics(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const samples = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.e+-]+|NaN)$/.exec(line)
    if (!m) throw new Error(`not Prometheus text: ${line}`)
    samples.set(m[1]!, Number(m[2]))
  }
  return samples
}

export interface Health {
  status: string
  reasons?: string[]
  running: number
  queued: number
  journal: number
}

export async function health(url: string): Promise<Health> {
  return (await (await fetch(`${url}/healthz`)).json()) as Health
}
