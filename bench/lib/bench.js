// The bench's shared state: the work directory, the source registry, fresh targets behind their
// counting proxies, and timed tool runs with request and byte accounting around them.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { Client } from './client.js'
import { log } from './format.js'
import { startLinkProxy } from './link-proxy.js'
import { measure, runRecord } from './measure.js'
import { ROOT } from './options.js'
import { startCountingProxy } from './proxy.js'
import { killAllRegistries, startRegistry } from './registry.js'

export const NODE = process.execPath

function which(bin) {
  return (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(join(dir, bin)))
}

function toolVersion(cmd, args, re) {
  try {
    const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    return re.exec(out)?.[1] ?? out.trim()
  } catch {
    return 'unknown'
  }
}

export function machineInfo() {
  return {
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model?.trim() ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    skopeo: toolVersion('skopeo', ['--version'], /version (\S+)/),
    distribution: toolVersion('docker-registry', ['--version'], /distribution (\S+)/),
    /** 1-minute load average when the bench started: other work on the machine skews wall times */
    loadAvgStart: Math.round(os.loadavg()[0] * 100) / 100,
    curl: toolVersion('curl', ['--version'], /^curl (\S+)/),
  }
}

/** Where a tool puts a source repository: imgsync keeps the path, skopeo sync (YAML source) its last component under the namespace. */
export function targetRepo(tool) {
  return tool === 'skopeo' ? (name) => `${name.split('/')[0]}/${name.split('/').at(-1)}` : (name) => name
}

export class Bench {
  constructor(o) {
    this.o = o
    this.failures = []
  }

  async setup() {
    const needed = [
      'docker-registry',
      'skopeo',
      ...(this.o.only.has('big') && this.o.bigMiB > 0 ? ['curl', 'bash'] : []),
    ]
    const missing = needed.filter((b) => !which(b))
    if (missing.length > 0) {
      throw new Error(`missing ${missing.join(', ')}: apt-get install -y docker-registry skopeo curl`)
    }
    if (!existsSync(join(dirname(this.o.bin), '..', 'dist'))) {
      throw new Error(`no dist/ next to ${this.o.bin}: run \`npm run build\` first`)
    }
    this.work = await mkdtemp(join(process.env.BENCH_WORK ?? os.tmpdir(), 'imgsync-bench-'))
    this.src = await startRegistry(this.work, 'source')
    this.srcClient = new Client(this.src.url)
    log(`source registry ${this.src.host}; work dir ${this.work}`)
  }

  async cleanup() {
    killAllRegistries()
    if (this.work && !process.env.BENCH_KEEP) await rm(this.work, { recursive: true, force: true })
  }

  /**
   * A fresh, empty target registry behind its own counting proxy; tools are pointed at the proxy.
   * With a `link` ({ src, delayMs, bandwidth, fault }), the proxy is a link proxy with those settings,
   * and the tools reach the source through `link.src`, the link proxy in front of the source.
   */
  async freshTarget(name, link) {
    const reg = await startRegistry(this.work, name)
    const proxy = link ? await startLinkProxy(reg.port, link) : await startCountingProxy(reg.port)
    const dir = await mkdtemp(join(this.work, `${name}-tools-`))
    return {
      reg,
      proxy,
      host: proxy.host,
      srcHost: link ? link.src.host : this.src.host,
      srcProxy: link?.src,
      client: new Client(reg.url),
      dir,
      async stop() {
        await proxy.close()
        await reg.stop()
      },
    }
  }

  /** Runs one tool invocation against a target, with request and byte accounting around it. */
  async timed(tool, target, cmd, args, env = {}) {
    target.proxy.reset()
    target.srcProxy?.reset()
    const srcOffset = this.src.logSize()
    const r = await measure(cmd, args, { cwd: ROOT, tmp: this.work, env: { NO_COLOR: '1', ...env } })
    const srcRequests = await this.src.requestsSince(srcOffset)
    const s = target.proxy.stats
    const run = {
      ...runRecord(tool, r),
      target: {
        requests: s.requests,
        byMethod: { ...s.byMethod },
        blobBytes: s.blobBytes,
        blobUploads: s.blobUploads,
        mountRequests: s.mountRequests,
        manifestBytes: s.manifestBytes,
        wireBytes: s.wireBytes,
        connections: s.connections,
      },
      source: {
        requests: srcRequests.length,
        blobGets: srcRequests.filter((e) => e.method === 'GET' && /\/blobs\/sha256:/.test(e.path)).length,
        bytesServed: srcRequests.reduce((n, e) => n + e.bytes, 0),
      },
    }
    // requests by kind on both links, as the tool sent them (the access log above is what the registry served)
    if (target.srcProxy) run.link = { source: target.srcProxy.snapshot(), target: target.proxy.snapshot() }
    if (!run.ok) run.error = (r.stderr || r.stdout).trim().split('\n').slice(-15).join('\n')
    return run
  }

  fail(what, run, detail) {
    run.ok = false
    run.error = [run.error, detail].filter(Boolean).join('\n')
    this.failures.push(`${what}: ${run.error}`)
    log(`FAILED ${what}: ${run.error}`)
  }
}
