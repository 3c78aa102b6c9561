// Starts CNCF distribution (`docker-registry serve`) on free loopback ports for the benchmark.
// Independent of test/harness on purpose: the bench must keep working whatever the tests need.
import { spawn } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { closeSync, openSync, rmSync, statSync } from 'node:fs'
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import { createServer } from 'node:net'
import { join } from 'node:path'

const READY_TIMEOUT_MS = 15_000
const START_ATTEMPTS = 3

/** Every registry process we started, so an exit or a signal never leaves one behind. */
const children = new Set()
let hookInstalled = false

function installExitHook() {
  if (hookInstalled) return
  hookInstalled = true
  process.on('exit', killAllRegistries)
}

export function killAllRegistries() {
  for (const { child, dir } of children) {
    try {
      child.kill('SIGKILL')
    } catch {
      // already gone
    }
    if (!process.env.BENCH_KEEP) rmSync(dir, { recursive: true, force: true })
  }
  children.clear()
}

/** A port nothing listens on right now (127.0.0.1 only). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** GET /v2/ once with a given User-Agent; resolves the status, or undefined when nothing answers. */
function probe(url, userAgent) {
  return new Promise((resolve) => {
    const req = http.get(`${url}/v2/`, { timeout: 1_000, headers: { 'User-Agent': userAgent } }, (res) => {
      res.resume()
      resolve(res.statusCode)
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(undefined))
  })
}

// gorilla/handlers combined log format, as distribution 2.8 writes it to stdout:
// 127.0.0.1 - - [23/Nov/2026:15:12:55 +0000] "GET /v2/ HTTP/1.1" 200 2 "" "curl/7.88.1"
const ACCESS_LINE =
  /^(\S+) (\S+) (\S+) \[([^\]]+)\] "(\S+) (\S+) ([^"]+)" (\d{3}) (\d+|-) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"$/

/** Access-log lines as { method, path, query, status, bytes (response size), userAgent }. */
export function parseAccessLog(text) {
  const out = []
  for (const line of text.split('\n')) {
    const m = ACCESS_LINE.exec(line.trimEnd())
    if (!m) continue
    const q = m[6].indexOf('?')
    out.push({
      method: m[5],
      path: q === -1 ? m[6] : m[6].slice(0, q),
      query: q === -1 ? '' : m[6].slice(q + 1),
      status: Number(m[8]),
      bytes: m[9] === '-' ? 0 : Number(m[9]),
      userAgent: m[11],
    })
  }
  return out
}

function registryConfig(dir, port) {
  // JSON is YAML, so no YAML writer is needed. Access log on (stdout), application log quiet: the
  // per-request "response completed" lines at info level only cost the registry CPU on a 2-core box.
  return {
    version: '0.1',
    log: { level: 'warn', formatter: 'text', accesslog: { disabled: false } },
    storage: {
      filesystem: { rootdirectory: join(dir, 'data') },
      // as in the Debian package's default config and most deployments
      cache: { blobdescriptor: 'inmemory' },
      delete: { enabled: true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: { addr: `127.0.0.1:${port}`, secret: randomBytes(16).toString('hex') },
  }
}

/**
 * Starts one registry in a fresh directory under `root`. Ready means our own process logged our
 * own probe request (so a registry that grabbed the same port cannot fool us).
 * @returns {Promise<{name: string, host: string, port: number, url: string, dir: string, logFile: string,
 *   logSize(): number, requestsSince(offset: number): Promise<object[]>, stop(): Promise<void>}>}
 */
export async function startRegistry(root, name) {
  installExitHook()
  const dir = await mkdtemp(join(root, `${name}-`))
  await mkdir(join(dir, 'data'))
  const logFile = join(dir, 'registry.log')
  const configFile = join(dir, 'config.json')
  let lastError
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    const port = await freePort()
    await writeFile(configFile, JSON.stringify(registryConfig(dir, port), null, 2))
    const fd = openSync(logFile, 'a')
    let child
    try {
      child = spawn('docker-registry', ['serve', configFile], { stdio: ['ignore', fd, fd] })
    } finally {
      closeSync(fd)
    }
    const entry = { child, dir }
    children.add(entry)
    let failure
    child.once('error', (err) => {
      failure = err
    })
    const url = `http://127.0.0.1:${port}`
    const sentinel = `imgsync-bench-probe/${randomUUID()}`
    const deadline = Date.now() + READY_TIMEOUT_MS
    while (Date.now() < deadline && !failure && child.exitCode === null && child.signalCode === null) {
      if ((await probe(url, sentinel)) === 200 && (await readFile(logFile, 'utf8')).includes(sentinel)) {
        return handle(name, port, url, dir, logFile, child, entry)
      }
      await sleep(25)
    }
    child.kill('SIGKILL')
    children.delete(entry)
    const tail = (await readFile(logFile, 'utf8').catch(() => '')).split('\n').slice(-20).join('\n')
    lastError = new Error(
      `docker-registry (${name}) did not become ready on ${url}: ${failure?.message ?? 'timeout or exit'}\n${tail}`,
    )
    if (!/address already in use/.test(tail)) break
  }
  throw lastError
}

function handle(name, port, url, dir, logFile, child, entry) {
  let stopped = false
  return {
    name,
    host: `127.0.0.1:${port}`,
    port,
    url,
    dir,
    logFile,
    /** The access log's current length: pass it to requestsSince() after a run. */
    logSize() {
      return statSync(logFile).size
    },
    /** Requests served since `offset` (bytes into the log), once every line up to now is written. */
    async requestsSince(offset) {
      // lines are written after the response; a fresh sentinel's line proves the earlier ones are there
      const sentinel = `imgsync-bench-probe/${randomUUID()}`
      await probe(url, sentinel)
      const deadline = Date.now() + 5_000
      for (;;) {
        const fh = await open(logFile, 'r')
        let text
        try {
          const { size } = await fh.stat()
          const buf = Buffer.alloc(Math.max(0, size - offset))
          await fh.read(buf, 0, buf.length, offset)
          text = buf.toString('utf8')
        } finally {
          await fh.close()
        }
        if (text.includes(sentinel) || Date.now() > deadline) {
          return parseAccessLog(text).filter((e) => !e.userAgent.startsWith('imgsync-bench-probe/'))
        }
        await sleep(10)
      }
    },
    async stop() {
      if (stopped) return
      stopped = true
      child.kill('SIGTERM')
      const exited = await new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve(true)
        const timer = setTimeout(() => resolve(false), 5_000)
        child.once('exit', () => {
          clearTimeout(timer)
          resolve(true)
        })
      })
      if (!exited) child.kill('SIGKILL')
      children.delete(entry)
      if (!process.env.BENCH_KEEP) await rm(dir, { recursive: true, force: true })
    },
  }
}
