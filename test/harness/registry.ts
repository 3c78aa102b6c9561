import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { closeSync, openSync, rmSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { stringify } from 'yaml'
import { listenBelowEphemeral } from './net.js'

const execFileAsync = promisify(execFile)

export interface RegistryOptions {
  htpasswd?: { username: string; password: string }[]
  tls?: { certFile: string; keyFile: string }
  notifications?: { url: string; token?: string }
  auth?: { token: { realm: string; service: string; issuer: string; rootCertBundle: string } }
  /** Deep-merged over the generated config (objects merge, everything else replaces). */
  extraConfig?: Record<string, unknown>
}

export interface AccessLogEntry {
  method: string
  /** Request path without the query string, as sent (not percent-decoded). */
  path: string
  /** Raw query string without the leading '?', '' if none. */
  query: string
  status: number
  bytes: number
  userAgent: string
}

export interface RunningRegistry {
  /** '127.0.0.1:PORT', the form image references use. */
  host: string
  port: number
  /** 'http://127.0.0.1:PORT', or https when started with tls. */
  url: string
  dataDir: string
  logFile: string
  configFile: string
  stop(): Promise<void>
  /** Every request the registry served so far, oldest first, parsed from its access log. */
  requests(): Promise<AccessLogEntry[]>
}

/** Test-only CA and server certificate for 127.0.0.1, see test/fixtures/tls/README.md. */
export const TEST_TLS = {
  caFile: fileURLToPath(new URL('../fixtures/tls/ca.pem', import.meta.url)),
  caKeyFile: fileURLToPath(new URL('../fixtures/tls/ca-key.pem', import.meta.url)),
  certFile: fileURLToPath(new URL('../fixtures/tls/server.pem', import.meta.url)),
  keyFile: fileURLToPath(new URL('../fixtures/tls/server-key.pem', import.meta.url)),
}

const READY_TIMEOUT_MS = 15_000
const STOP_TIMEOUT_MS = 5_000
const START_ATTEMPTS = 3
const SENTINEL_UA = `imgsync-harness-sentinel/${randomUUID()}`

// Registries must not outlive the test process, even when a test forgets stop() or the worker is killed.
const children = new Set<ChildProcess>()
const tempDirs = new Set<string>()
let exitHookInstalled = false

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', killAll)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAll()
      // Our listener replaced the default "die on signal"; restore it unless someone else handles it.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
    })
  }
}

function killAll(): void {
  for (const child of children) {
    try {
      child.kill('SIGKILL')
    } catch {
      // already gone
    }
  }
  children.clear()
  if (!process.env.IMGSYNC_KEEP_REGISTRY) {
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
  }
  tempDirs.clear()
}

/** A loopback port free now, below the ephemeral range (see listenBelowEphemeral). */
export function freePort(): Promise<number> {
  return listenBelowEphemeral(
    (port) =>
      new Promise<void>((resolve, reject) => {
        const server = createServer()
        server.unref()
        server.once('error', reject)
        server.listen(port, '127.0.0.1', () => server.close(() => resolve()))
      }),
  )
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base }
  for (const [key, value] of Object.entries(over)) {
    const current = out[key]
    out[key] = isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : value
  }
  return out
}

async function writeHtpasswd(file: string, users: { username: string; password: string }[]): Promise<void> {
  const lines: string[] = []
  for (const { username, password } of users) {
    const { stdout } = await execFileAsync('htpasswd', ['-Bbn', username, password])
    lines.push(stdout.trim())
  }
  await writeFile(file, `${lines.join('\n')}\n`)
}

function buildConfig(dir: string, port: number, opts: RegistryOptions): Record<string, unknown> {
  const config: Record<string, unknown> = {
    version: '0.1',
    log: { level: 'info', formatter: 'text', accesslog: { disabled: false } },
    storage: {
      filesystem: { rootdirectory: join(dir, 'data') },
      delete: { enabled: true },
      // The upload purger only adds log noise during short test runs.
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: {
      addr: `127.0.0.1:${port}`,
      // A fixed secret silences the "No HTTP secret provided" warning.
      secret: randomBytes(16).toString('hex'),
      ...(opts.tls ? { tls: { certificate: opts.tls.certFile, key: opts.tls.keyFile } } : {}),
    },
  }
  if (opts.htpasswd && opts.auth)
    throw new Error('startRegistry: use either htpasswd or token auth, not both')
  if (opts.htpasswd) {
    config.auth = { htpasswd: { realm: 'imgsync-test', path: join(dir, 'htpasswd') } }
  } else if (opts.auth) {
    const { realm, service, issuer, rootCertBundle } = opts.auth.token
    config.auth = { token: { realm, service, issuer, rootcertbundle: rootCertBundle } }
  }
  if (opts.notifications) {
    const { url, token } = opts.notifications
    config.notifications = {
      endpoints: [
        {
          name: 'imgsync-harness',
          url,
          ...(token ? { headers: { Authorization: [`Bearer ${token}`] } } : {}),
          timeout: '2s',
          threshold: 3,
          backoff: '500ms',
        },
      ],
    }
  }
  return opts.extraConfig ? deepMerge(config, opts.extraConfig) : config
}

/** GET /v2/ once; resolves the status code, or undefined when nothing answers yet. */
function probe(url: string, userAgent = SENTINEL_UA): Promise<number | undefined> {
  return new Promise((resolve) => {
    const target = new URL('/v2/', url)
    const client = target.protocol === 'https:' ? https : http
    const req = client.get(
      target,
      { rejectUnauthorized: false, timeout: 1_000, headers: { 'User-Agent': userAgent } },
      (res) => {
        res.resume()
        resolve(res.statusCode)
      },
    )
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(undefined))
  })
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function logTail(file: string, lines = 30): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '')
  return text.split('\n').slice(-lines).join('\n')
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true)
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve(true)
    })
  })
}

// gorilla/handlers combined log format, which distribution 2.8 writes to stdout:
// 127.0.0.1 - - [23/Nov/2026:15:12:55 +0000] "GET /v2/ HTTP/1.1" 200 2 "" "curl/7.88.1"
const ACCESS_LINE =
  /^(\S+) (\S+) (\S+) \[([^\]]+)\] "(\S+) (\S+) ([^"]+)" (\d{3}) (\d+|-) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"$/

export function parseAccessLog(text: string): AccessLogEntry[] {
  const entries: AccessLogEntry[] = []
  for (const line of text.split('\n')) {
    const m = ACCESS_LINE.exec(line.trimEnd())
    if (!m) continue
    const uri = m[6]
    const q = uri.indexOf('?')
    entries.push({
      method: m[5],
      path: q === -1 ? uri : uri.slice(0, q),
      query: q === -1 ? '' : uri.slice(q + 1),
      status: Number(m[8]),
      bytes: m[9] === '-' ? 0 : Number(m[9]),
      userAgent: m[11].replace(/\\(.)/g, '$1'),
    })
  }
  return entries
}

const BLOB_PATH = /^\/v2\/.+\/blobs\/[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/
const UPLOAD_PATH = /^\/v2\/.+\/blobs\/uploads\//

/** Blob downloads: GET /v2/<name>/blobs/<digest> answered 200, or 307 when storage redirects. */
export function countBlobGets(entries: AccessLogEntry[]): number {
  return entries.filter(
    (e) => e.method === 'GET' && BLOB_PATH.test(e.path) && (e.status === 200 || e.status === 307),
  ).length
}

/** Upload requests (PUT or PATCH under /blobs/uploads/), whatever their status; a chunked upload counts per request. */
export function countBlobUploads(entries: AccessLogEntry[]): number {
  return entries.filter((e) => (e.method === 'PUT' || e.method === 'PATCH') && UPLOAD_PATH.test(e.path))
    .length
}

/** Uploads that completed: the final PUT answered 201. */
export function countCompletedBlobUploads(entries: AccessLogEntry[]): number {
  return entries.filter((e) => e.method === 'PUT' && UPLOAD_PATH.test(e.path) && e.status === 201).length
}

/** Cross-repository mounts that succeeded (POST ...?mount=&from= answered 201). */
export function countBlobMounts(entries: AccessLogEntry[]): number {
  return entries.filter(
    (e) =>
      e.method === 'POST' && UPLOAD_PATH.test(e.path) && /(?:^|&)mount=/.test(e.query) && e.status === 201,
  ).length
}

async function launch(
  dir: string,
  opts: RegistryOptions,
): Promise<{ child: ChildProcess; port: number; configFile: string; logFile: string }> {
  const logFile = join(dir, 'registry.log')
  const configFile = join(dir, 'config.yml')
  let lastError: Error | undefined
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    const port = await freePort()
    await writeFile(configFile, stringify(buildConfig(dir, port, opts)))
    // One append-mode fd for stdout (access log) and stderr (app log): each line is a single write, so no tearing.
    const fd = openSync(logFile, 'a')
    let child: ChildProcess
    try {
      child = spawn('docker-registry', ['serve', configFile], { stdio: ['ignore', fd, fd] })
    } finally {
      closeSync(fd)
    }
    children.add(child)
    child.once('exit', () => children.delete(child))
    let failure: Error | undefined
    child.once('error', (err) => {
      failure = err
    })

    const url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`
    const listening = `listening on 127.0.0.1:${port}`
    const deadline = Date.now() + READY_TIMEOUT_MS
    while (Date.now() < deadline && !failure && child.exitCode === null && child.signalCode === null) {
      const status = await probe(url)
      // The answer must come from our child, not from another registry that grabbed the same free port.
      if ((status === 200 || status === 401) && (await readFile(logFile, 'utf8')).includes(listening)) {
        return { child, port, configFile, logFile }
      }
      await sleep(50)
    }
    child.kill('SIGKILL')
    await waitForExit(child, STOP_TIMEOUT_MS)
    const tail = await logTail(logFile)
    lastError = new Error(
      `docker-registry did not become ready on ${url} (attempt ${attempt}): ` +
        `${failure?.message ?? `exit ${child.exitCode ?? child.signalCode ?? 'timeout'}`}\n${tail}`,
    )
    // Only a port stolen between freePort() and bind() is worth another try.
    if (!/address already in use/.test(tail)) break
  }
  throw lastError
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<RunningRegistry> {
  installExitHook()
  const dir = await mkdtemp(join(tmpdir(), 'imgsync-registry-'))
  tempDirs.add(dir)
  const dataDir = join(dir, 'data')
  await mkdir(dataDir)
  if (opts.htpasswd) await writeHtpasswd(join(dir, 'htpasswd'), opts.htpasswd)

  const { child, port, configFile, logFile } = await launch(dir, opts)
  const url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`
  let stopped = false

  return {
    host: `127.0.0.1:${port}`,
    port,
    url,
    dataDir,
    logFile,
    configFile,
    async stop() {
      if (stopped) return
      stopped = true
      child.kill('SIGTERM')
      if (!(await waitForExit(child, STOP_TIMEOUT_MS))) {
        child.kill('SIGKILL')
        await waitForExit(child, STOP_TIMEOUT_MS)
      }
      children.delete(child)
      tempDirs.delete(dir)
      // IMGSYNC_KEEP_REGISTRY=1 keeps config, data and log for post-mortems.
      if (!process.env.IMGSYNC_KEEP_REGISTRY) await rm(dir, { recursive: true, force: true })
    },
    async requests() {
      if (stopped) throw new Error('requests() called after stop(); the log was removed')
      // A line is logged only after its response was sent, so the request a test just finished may be missing.
      // Wait for a fresh sentinel request's line: by then the earlier lines have been written too.
      // (one of its own: the readiness probe's and earlier calls' lines are already there)
      const fresh = `${SENTINEL_UA}/${randomUUID()}`
      await probe(url, fresh)
      const deadline = Date.now() + 5_000
      for (;;) {
        const entries = parseAccessLog(await readFile(logFile, 'utf8'))
        if (entries.some((e) => e.userAgent === fresh) || Date.now() > deadline) {
          return entries.filter((e) => !e.userAgent.startsWith(SENTINEL_UA))
        }
        await sleep(20)
      }
    },
  }
}
