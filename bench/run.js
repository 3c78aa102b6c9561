#!/usr/bin/env node
// imgsync vs skopeo on loopback CNCF distribution registries. `npm run bench` (builds first), or
// `node bench/run.js --help`. Writes bench/results.json, prints Markdown tables, and (full runs only)
// refreshes the "## Benchmark" section of README.md. Nothing here ever leaves 127.0.0.1.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client, pushBigImage, pushCorpus, scaleCorpus, syncCorpus, verifyCorpus } from './lib/corpus.js'
import { measure, median } from './lib/measure.js'
import { startCountingProxy } from './lib/proxy.js'
import { killAllRegistries, startRegistry } from './lib/registry.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const NODE = process.execPath
const MiB = 1024 * 1024

// ---------------------------------------------------------------------------------------------
// options

const OPTIONS = {
  runs: { env: 'BENCH_RUNS', def: 5, smoke: 1, help: 'timed runs per tool and scenario (median reported)' },
  repos: { env: 'BENCH_REPOS', def: 10, smoke: 1, help: 'repositories in the sync corpus' },
  tags: { env: 'BENCH_TAGS', def: 5, smoke: 2, help: 'tags per repository' },
  layers: { env: 'BENCH_LAYERS', def: 3, smoke: 2, help: 'layers per image' },
  'layer-size': {
    env: 'BENCH_LAYER_SIZE',
    def: '1MiB',
    smoke: '64KiB',
    help: 'bytes per layer (k/m/g suffixes)',
  },
  shared: {
    env: 'BENCH_SHARED',
    def: 0.34,
    smoke: 0.5,
    help: 'fraction of each image’s layers that are a base shared by all images',
  },
  'scale-repos': {
    env: 'BENCH_SCALE_REPOS',
    def: 30,
    smoke: 0,
    help: 'no-op at scale: repositories (0 skips the scenario)',
  },
  'scale-tags': { env: 'BENCH_SCALE_TAGS', def: 50, smoke: 0, help: 'no-op at scale: tags per repository' },
  big: {
    env: 'BENCH_BIG',
    def: 256,
    smoke: 0,
    help: 'large-layer scenario: layer size in MiB, e.g. 1024 (0 skips it)',
  },
  flat: {
    env: 'BENCH_FLAT',
    def: 1024,
    smoke: 0,
    help: 'imgsync-only run on a layer of this many MiB, to compare peak RSS with --big (0 or = --big skips it)',
  },
  'version-runs': { env: 'BENCH_VERSION_RUNS', def: 10, smoke: 2, help: 'start-up: runs of --version' },
  'slow-ms': {
    env: 'BENCH_SLOW_MS',
    def: 30_000,
    smoke: 30_000,
    help: 'a tool whose first run of a scenario takes longer runs once only',
  },
  seed: {
    env: 'BENCH_SEED',
    def: 'imgsync-bench',
    smoke: 'imgsync-bench',
    help: 'corpus seed (same seed, same digests)',
  },
  out: {
    env: 'BENCH_OUT',
    def: 'bench/results.json',
    // a smoke run never overwrites the real results (bench/work/ is git-ignored)
    smoke: 'bench/work/results-smoke.json',
    help: 'results file',
  },
  imgsync: {
    env: 'BENCH_IMGSYNC',
    def: 'bin/run.js',
    smoke: 'bin/run.js',
    help: 'the imgsync entry point to time (e.g. a snapshot build)',
  },
  only: {
    env: 'BENCH_ONLY',
    def: 'cold,noop,scale,big,flat,startup',
    smoke: 'cold,noop,startup',
    help: 'scenarios to run',
  },
}

function usage() {
  const lines = ['usage: node bench/run.js [--smoke] [--no-readme] [--OPTION VALUE ...]', '']
  for (const [name, o] of Object.entries(OPTIONS)) {
    lines.push(`  --${name.padEnd(13)} ${o.help} (default ${o.def}; env ${o.env})`)
  }
  lines.push('  --smoke         tiny corpus, 1 run, no scale / big layer; for the test suite')
  lines.push('  --no-readme     do not refresh the Benchmark section of README.md')
  return lines.join('\n')
}

function parseSize(value) {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?$/i.exec(String(value).trim())
  if (!m) throw new Error(`not a size: ${value}`)
  const mult = { '': 1, k: 1024, m: MiB, g: 1024 * MiB }[m[2].toLowerCase()]
  return Math.round(Number(m[1]) * mult)
}

function parseOptions(argv) {
  const flags = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--help' || a === '-h') {
      process.stdout.write(`${usage()}\n`)
      process.exit(0)
    }
    if (a === '--smoke' || a === '--no-readme') {
      flags[a.slice(2)] = true
      continue
    }
    const [name, inline] = a.startsWith('--') ? a.slice(2).split(/=(.*)/s) : []
    if (!name || !(name in OPTIONS)) throw new Error(`unknown argument ${a}\n${usage()}`)
    flags[name] = inline ?? argv[++i]
    if (flags[name] === undefined) throw new Error(`--${name} needs a value`)
  }
  const smoke = flags.smoke === true
  const get = (name) =>
    flags[name] ?? process.env[OPTIONS[name].env] ?? OPTIONS[name][smoke ? 'smoke' : 'def']
  const int = (name) => {
    const n = Number(get(name))
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number ≥ 0`)
    return n
  }
  const o = {
    smoke,
    readme: !smoke && flags['no-readme'] !== true,
    runs: Math.max(1, int('runs')),
    repos: Math.max(1, int('repos')),
    tags: Math.max(1, int('tags')),
    layers: Math.max(1, int('layers')),
    layerSize: parseSize(get('layer-size')),
    shared: Number(get('shared')),
    scaleRepos: int('scale-repos'),
    scaleTags: int('scale-tags'),
    bigMiB: int('big'),
    flatMiB: int('flat'),
    versionRuns: Math.max(1, int('version-runs')),
    slowMs: int('slow-ms'),
    seed: String(get('seed')),
    out: resolve(ROOT, String(get('out'))),
    bin: resolve(ROOT, String(get('imgsync'))),
    only: new Set(
      String(get('only'))
        .split(',')
        .map((s) => s.trim()),
    ),
  }
  if (!(o.shared >= 0 && o.shared <= 1)) throw new Error('--shared must be between 0 and 1')
  if (o.only.has('noop')) o.only.add('cold') // a no-op re-sync needs the targets the cold runs filled
  return o
}

// ---------------------------------------------------------------------------------------------
// helpers

const log = (msg) => process.stderr.write(`[bench] ${msg}\n`)
const secs = (ms) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 1000).toFixed(2)} s`)
const mb = (bytes) => `${(bytes / 1e6).toFixed(bytes >= 1e7 ? 0 : 1)} MB`
const ratio = (a, b) => (a > 0 && b > 0 ? a / b : Number.NaN)
const fmtRatio = (r, digits = 2) => (Number.isFinite(r) ? `${r.toFixed(digits)}×` : '–')
const atMost = (x, limit) => Number.isFinite(x) && x <= limit

function bytesText(n) {
  if (n === 0) return '0 B'
  if (n < 1e4) return `${n} B`
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`
  return mb(n)
}

/** 1048576 → "1 MiB", 65536 → "64 KiB" (parameters are given in binary units) */
function binarySize(n) {
  if (n >= MiB && n % (MiB / 4) === 0) return `${n / MiB} MiB`
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`
  return `${n} B`
}

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

function machineInfo() {
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
function targetRepo(tool) {
  return tool === 'skopeo' ? (name) => `${name.split('/')[0]}/${name.split('/').at(-1)}` : (name) => name
}

// ---------------------------------------------------------------------------------------------
// the bench

class Bench {
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

  /** A fresh, empty target registry behind its own counting proxy; tools are pointed at the proxy. */
  async freshTarget(name) {
    const reg = await startRegistry(this.work, name)
    const proxy = await startCountingProxy(reg.port)
    const dir = await mkdtemp(join(this.work, `${name}-tools-`))
    return {
      reg,
      proxy,
      host: proxy.host,
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
    const srcOffset = this.src.logSize()
    const r = await measure(cmd, args, { cwd: ROOT, tmp: this.work, env: { NO_COLOR: '1', ...env } })
    const srcRequests = await this.src.requestsSince(srcOffset)
    const s = target.proxy.stats
    const run = {
      tool,
      ok: r.code === 0,
      code: r.code,
      wallMs: Math.round(r.wallMs * 10) / 10,
      rssKiB: r.rssKiB,
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
    if (!run.ok) run.error = (r.stderr || r.stdout).trim().split('\n').slice(-15).join('\n')
    return run
  }

  fail(what, run, detail) {
    run.ok = false
    run.error = [run.error, detail].filter(Boolean).join('\n')
    this.failures.push(`${what}: ${run.error}`)
    log(`FAILED ${what}: ${run.error}`)
  }

  // --- tools ---------------------------------------------------------------------------------

  async imgsyncRuleFile(target, namespace) {
    target.rules ??= {}
    if (!target.rules[namespace]) {
      const file = join(target.dir, `imgsync-${namespace}.yaml`)
      const r = await measure(
        NODE,
        [
          this.o.bin,
          'rule',
          'create',
          'bench',
          '--source-registry',
          this.src.host,
          '--source-namespace',
          namespace,
          '--target-registry',
          target.host,
          '-c',
          file,
        ],
        { cwd: ROOT, tmp: this.work, env: { NO_COLOR: '1' } },
      )
      if (r.code !== 0) throw new Error(`imgsync rule create failed (exit ${r.code}): ${r.stderr}`)
      target.rules[namespace] = file
    }
    return target.rules[namespace]
  }

  /**
   * `imgsync rule trigger` of a rule covering `namespace`; adds the task's item counts to the run.
   * `--full-check` makes imgsync ask the target for every tag instead of trusting remembered ones.
   */
  async imgsyncRule(target, namespace, extraArgs = []) {
    const ruleFile = await this.imgsyncRuleFile(target, namespace)
    const records = join(target.dir, `records-${Date.now()}-${Math.random().toString(36).slice(2)}.jsonl`)
    const run = await this.timed(
      'imgsync',
      target,
      NODE,
      [this.o.bin, 'rule', 'trigger', 'bench', '-c', ruleFile, ...extraArgs],
      {
        IMGSYNC_RECORDS: records,
        IMGSYNC_LOCK_DIR: join(target.dir, 'locks'),
      },
    )
    const tasks = (await readFile(records, 'utf8').catch(() => ''))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .filter((r) => r.type === 'task' && r.status !== 'running')
    const task = tasks.at(-1)
    if (task) run.items = { synced: task.synced, skipped: task.skipped, failed: task.failed }
    await rm(records, { force: true })
    return run
  }

  async skopeoSync(target, corpus) {
    const file = join(target.dir, `skopeo-${corpus.namespace}.yaml`)
    const lines = [`${this.src.host}:`, '  tls-verify: false', '  images:']
    for (const r of corpus.repositories) lines.push(`    ${r.name}: []`)
    await writeFile(file, `${lines.join('\n')}\n`)
    return this.timed('skopeo', target, 'skopeo', [
      'sync',
      '--all',
      '--preserve-digests',
      '--src',
      'yaml',
      '--dest',
      'docker',
      '--dest-tls-verify=false',
      '--src-no-creds',
      '--dest-no-creds',
      file,
      // with a YAML source, skopeo puts each image at DESTINATION/<last path component>
      `${target.host}/${corpus.namespace}`,
    ])
  }

  // --- scenarios -----------------------------------------------------------------------------

  async pushSyncCorpus() {
    const o = this.o
    const t0 = Date.now()
    this.corpus = syncCorpus({
      namespace: 'corpus',
      repos: o.repos,
      tags: o.tags,
      layers: o.layers,
      layerSize: o.layerSize,
      shared: o.shared,
      seed: o.seed,
    })
    await pushCorpus(this.srcClient, this.corpus)
    for (const b of this.corpus.blobs.values()) b.bytes = undefined
    const s = this.corpus.summary
    log(
      `corpus: ${s.repositories} repositories, ${s.tags} tags, ${s.manifests} manifests, ${s.uniqueBlobs} unique blobs = ${mb(s.uniqueBlobBytes)} (pushed in ${secs(Date.now() - t0)})`,
    )
  }

  /** Cold: every run of every tool starts from an empty target. The last target of each tool stays for the no-op runs. */
  async cold() {
    const runs = { imgsync: [], skopeo: [] }
    this.filled = {}
    for (let i = 0; i < this.o.runs; i++) {
      const order = i % 2 === 0 ? ['imgsync', 'skopeo'] : ['skopeo', 'imgsync']
      for (const tool of order) {
        const target = await this.freshTarget(`cold-${tool}-${i}`)
        if (tool === 'imgsync') await this.imgsyncRuleFile(target, 'corpus')
        const run =
          tool === 'imgsync'
            ? await this.imgsyncRule(target, 'corpus')
            : await this.skopeoSync(target, this.corpus)
        const problems = run.ok ? await verifyCorpus(target.client, this.corpus, targetRepo(tool)) : []
        if (!run.ok || problems.length > 0)
          this.fail(`cold ${tool} run ${i + 1}`, run, problems.slice(0, 5).join('\n'))
        runs[tool].push(run)
        log(
          `cold ${tool} ${i + 1}/${this.o.runs}: ${secs(run.wallMs)}, ${bytesText(run.target.blobBytes)} blob bytes to target`,
        )
        if (this.filled[tool]) await this.filled[tool].stop()
        this.filled[tool] = target
      }
    }
    return runs
  }

  async noop() {
    const runs = { imgsync: [], skopeo: [], imgsyncFullCheck: [] }
    for (let i = 0; i < this.o.runs; i++) {
      const order =
        i % 2 === 0 ? ['imgsync', 'skopeo', 'imgsyncFullCheck'] : ['imgsyncFullCheck', 'skopeo', 'imgsync']
      for (const tool of order) {
        const target = this.filled[tool === 'skopeo' ? 'skopeo' : 'imgsync']
        const run =
          tool === 'skopeo'
            ? await this.skopeoSync(target, this.corpus)
            : await this.imgsyncRule(target, 'corpus', tool === 'imgsyncFullCheck' ? ['--full-check'] : [])
        if (!run.ok) this.fail(`no-op ${tool} run ${i + 1}`, run)
        else if (run.items && run.items.synced + run.items.failed > 0)
          this.fail(`no-op ${tool} run ${i + 1}`, run, `not a no-op: ${JSON.stringify(run.items)}`)
        runs[tool].push(run)
        log(
          `no-op ${tool} ${i + 1}/${this.o.runs}: ${secs(run.wallMs)}, ${run.target.requests} requests to target`,
        )
      }
    }
    for (const t of Object.values(this.filled)) await t.stop()
    return runs
  }

  /** No-op at scale: source and target both hold the same ≥1,500 tags (pushed directly, same digests). */
  async scale() {
    const o = this.o
    const t0 = Date.now()
    const corpus = scaleCorpus({ namespace: 'scale', repos: o.scaleRepos, tags: o.scaleTags, seed: o.seed })
    const target = await this.freshTarget('scale-target')
    await Promise.all([pushCorpus(this.srcClient, corpus), pushCorpus(target.client, corpus)])
    log(`scale corpus: ${corpus.summary.tags} tags pushed to source and target in ${secs(Date.now() - t0)}`)
    await this.imgsyncRuleFile(target, 'scale')
    const runs = { imgsync: [], skopeo: [], imgsyncFullCheck: [] }
    // imgsync's first run checks every target tag (the target was filled by pushing, not by imgsync)
    // and remembers them; the timed runs then show the remembered path and the --full-check path
    const warm = await this.imgsyncRule(target, 'scale')
    if (!warm.ok) this.fail('scale no-op imgsync warm-up', warm)
    for (let i = 0; i < o.runs; i++) {
      const order =
        i % 2 === 0 ? ['imgsync', 'skopeo', 'imgsyncFullCheck'] : ['imgsyncFullCheck', 'skopeo', 'imgsync']
      for (const tool of order) {
        // a tool that took longer than --slow-ms runs once: "≥3 runs where cheap"
        if (runs[tool].length > 0 && runs[tool][0].wallMs > o.slowMs) continue
        const run =
          tool === 'skopeo'
            ? await this.skopeoSync(target, corpus)
            : await this.imgsyncRule(target, 'scale', tool === 'imgsyncFullCheck' ? ['--full-check'] : [])
        if (!run.ok) this.fail(`scale no-op ${tool} run ${i + 1}`, run)
        else if (
          run.items &&
          (run.items.synced + run.items.failed > 0 || run.items.skipped !== corpus.summary.tags)
        )
          this.fail(`scale no-op ${tool} run ${i + 1}`, run, `not a full no-op: ${JSON.stringify(run.items)}`)
        runs[tool].push(run)
        log(
          `scale no-op ${tool} ${i + 1}/${o.runs}: ${secs(run.wallMs)}, ${run.target.requests} requests to target`,
        )
      }
    }
    await target.stop()
    return { corpus: corpus.summary, runs }
  }

  async copyBig(tool, target, image, repo) {
    const srcRef = `${this.src.host}/${repo}:v1`
    if (tool === 'imgsync') {
      return this.timed(
        'imgsync',
        target,
        NODE,
        [this.o.bin, 'sync', 'tag', srcRef, `${target.host}/${repo}`],
        {
          IMGSYNC_RECORDS: join(target.dir, 'records.jsonl'),
        },
      )
    }
    if (tool === 'skopeo') {
      return this.timed('skopeo', target, 'skopeo', [
        'copy',
        '--all',
        '--preserve-digests',
        '--src-tls-verify=false',
        '--dest-tls-verify=false',
        '--src-no-creds',
        '--dest-no-creds',
        `docker://${srcRef}`,
        `docker://${target.host}/${repo}:v1`,
      ])
    }
    // the raw limit: one streamed GET piped into one streamed upload (POST, then PUT from stdin)
    const script = [
      'set -euo pipefail',
      'loc=$(curl -sSf -o /dev/null -w "%header{location}" -X POST "$DST/v2/$REPO/blobs/uploads/")',
      'curl -sSf "$SRC/v2/$REPO/blobs/$DIGEST" | curl -sSf -o /dev/null -H "Expect:" -H "Content-Type: application/octet-stream" -T - "$loc&digest=$DIGEST"',
    ].join('\n')
    return this.timed('curl', target, 'bash', ['-c', script], {
      SRC: this.src.url,
      DST: `http://${target.host}`,
      REPO: repo,
      DIGEST: image.layer,
    })
  }

  async verifyBig(tool, target, image, repo, run, what) {
    if (!run.ok) return this.fail(what, run)
    const size = await target.client.headBlob(repo, image.layer)
    if (size !== image.size) return this.fail(what, run, `layer missing or wrong size at the target: ${size}`)
    if (tool !== 'curl' && (await target.client.headManifest(repo, 'v1')) !== image.manifest)
      this.fail(what, run, 'manifest missing or different at the target')
  }

  async big() {
    const o = this.o
    const t0 = Date.now()
    const image = await pushBigImage(this.srcClient, 'big/layer', 'v1', o.bigMiB * MiB, o.seed)
    log(`big layer: ${o.bigMiB} MiB pushed to the source in ${secs(Date.now() - t0)}`)
    const runs = { imgsync: [], skopeo: [], curl: [] }
    const tools = ['curl', 'imgsync', 'skopeo']
    for (let i = 0; i < o.runs; i++) {
      for (let k = 0; k < tools.length; k++) {
        const tool = tools[(k + i) % tools.length]
        const target = await this.freshTarget(`big-${tool}-${i}`)
        const run = await this.copyBig(tool, target, image, 'big/layer')
        await this.verifyBig(tool, target, image, 'big/layer', run, `big layer ${tool} run ${i + 1}`)
        runs[tool].push(run)
        log(`big layer ${tool} ${i + 1}/${o.runs}: ${secs(run.wallMs)}, peak RSS ${mb(run.rssKiB * 1024)}`)
        await target.stop()
      }
    }
    return { sizeBytes: image.size, uniqueBlobBytes: image.uniqueBlobBytes, runs }
  }

  /** imgsync alone on a much larger layer, once: its peak RSS should match the big-layer runs. */
  async flat() {
    const o = this.o
    const t0 = Date.now()
    const image = await pushBigImage(this.srcClient, 'big/flat', 'v1', o.flatMiB * MiB, o.seed)
    log(`flat check: ${o.flatMiB} MiB pushed to the source in ${secs(Date.now() - t0)}`)
    const target = await this.freshTarget('flat-imgsync')
    const run = await this.copyBig('imgsync', target, image, 'big/flat')
    await this.verifyBig('imgsync', target, image, 'big/flat', run, 'flat imgsync')
    log(`flat imgsync: ${secs(run.wallMs)}, peak RSS ${mb(run.rssKiB * 1024)}`)
    await target.stop()
    return { sizeBytes: image.size, runs: { imgsync: [run] } }
  }

  async startup() {
    const runs = { imgsync: [], skopeo: [] }
    for (let i = 0; i < this.o.versionRuns; i++) {
      for (const [tool, cmd, args] of [
        ['imgsync', NODE, [this.o.bin, '--version']],
        ['skopeo', 'skopeo', ['--version']],
      ]) {
        const r = await measure(cmd, args, { cwd: ROOT, tmp: this.work })
        const run = {
          tool,
          ok: r.code === 0,
          code: r.code,
          wallMs: Math.round(r.wallMs * 10) / 10,
          rssKiB: r.rssKiB,
        }
        if (!run.ok) this.fail(`${tool} --version`, run, r.stderr.trim())
        runs[tool].push(run)
      }
    }
    log(`start-up: imgsync --version ${secs(median(runs.imgsync.map((r) => r.wallMs)))}`)
    return runs
  }
}

// ---------------------------------------------------------------------------------------------
// results

function summarize(runs, uniqueBlobBytes) {
  if (!runs || runs.length === 0) return undefined
  const ok = runs.filter((r) => r.ok)
  const med = (f) => median(ok.map(f))
  const out = {
    runs: runs.length,
    ok: ok.length === runs.length,
    wallMs: med((r) => r.wallMs),
    wallMsAll: runs.map((r) => r.wallMs),
    peakRssMB: Math.round((Math.max(...runs.map((r) => r.rssKiB)) * 1024) / 1e4) / 100,
  }
  if (runs[0].target) {
    out.blobBytes = med((r) => r.target.blobBytes)
    if (uniqueBlobBytes) out.bytesRatio = Math.round((out.blobBytes / uniqueBlobBytes) * 1e4) / 1e4
    out.manifestBytes = med((r) => r.target.manifestBytes)
    out.wireBytes = med((r) => r.target.wireBytes)
    out.targetRequests = med((r) => r.target.requests)
    out.sourceRequests = med((r) => r.source.requests)
    out.sourceBlobGets = med((r) => r.source.blobGets)
  }
  if (runs[0].items) out.items = runs.at(-1).items
  return out
}

function scenario(runs, uniqueBlobBytes, extra = {}) {
  const s = { ...extra }
  for (const [tool, list] of Object.entries(runs)) s[tool] = summarize(list, uniqueBlobBytes)
  // unrounded: whether a target is met is decided on these, not on their display
  if (s.imgsync && s.skopeo) s.ratio = ratio(s.imgsync.wallMs, s.skopeo.wallMs)
  if (s.imgsyncFullCheck && s.skopeo) s.ratioFullCheck = ratio(s.imgsyncFullCheck.wallMs, s.skopeo.wallMs)
  if (s.imgsync && s.curl) s.ratioVsCurl = ratio(s.imgsync.wallMs, s.curl.wallMs)
  s.raw = runs
  return s
}

const round3 = (x) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : null)

/** Shown to three decimals; met or not is decided on the unrounded ratio. */
function evaluateTargets(sc) {
  const t = []
  const add = (id, label, measured, shown, met) => t.push({ id, label, measured, shown, met })
  if (sc.cold) {
    add(
      'cold',
      'cold sync ≤ 0.5× skopeo',
      sc.cold.ratio,
      fmtRatio(sc.cold.ratio, 3),
      atMost(sc.cold.ratio, 0.5),
    )
    const b = sc.cold.imgsync.bytesRatio
    add(
      'bytes',
      'bytes received by the target = 1.00× unique blob bytes (cold)',
      b,
      fmtRatio(b),
      atMost(Math.abs(b - 1), 0.0049),
    )
  }
  if (sc.noop)
    add(
      'noop',
      'no-op re-sync ≤ 0.3× skopeo',
      sc.noop.ratio,
      fmtRatio(sc.noop.ratio, 3),
      atMost(sc.noop.ratio, 0.3),
    )
  if (sc.scaleNoop) {
    const r = sc.scaleNoop.ratio
    add(
      'scaleNoop',
      `no-op at ${sc.scaleNoop.corpus.tags} tags ≤ 0.15× skopeo`,
      r,
      fmtRatio(r, 3),
      atMost(r, 0.15),
    )
  }
  if (sc.bigLayer) {
    const r = sc.bigLayer.ratioVsCurl
    add('bigLayer', 'large layer ≤ 1.2× raw curl stream', r, fmtRatio(r, 3), atMost(r, 1.2))
    const rss = sc.bigLayer.imgsync.peakRssMB
    add('rss', 'imgsync peak RSS ≤ 150 MB (large layer)', rss, `${rss} MB`, atMost(rss, 150))
  }
  if (sc.bigLayer && sc.flat) {
    const a = sc.bigLayer.imgsync.peakRssMB
    const b = sc.flat.imgsync.peakRssMB
    const d = Math.abs(b - a) / a
    add(
      'rssFlat',
      `RSS flat: ${sc.bigLayer.sizeBytes / MiB} MiB vs ${sc.flat.sizeBytes / MiB} MiB layer within 10%`,
      round3(d),
      `${a} vs ${b} MB (${(d * 100).toFixed(0)}%)`,
      atMost(d, 0.1),
    )
  }
  if (sc.startup) {
    const s = sc.startup.imgsync.wallMs / 1000
    add('startup', 'imgsync --version ≤ 0.3 s', s, `${s.toFixed(2)} s`, atMost(s, 0.3))
  }
  return t
}

function markdown(res) {
  const sc = res.scenarios
  const c = res.corpus
  const rows = []
  const cell = (s) => (s ? (s.ok ? secs(s.wallMs) : 'FAILED') : '–')
  const rss = (s) => (s ? `${Math.round(s.peakRssMB)} MB` : '–')
  const bytes = (s) =>
    !Number.isFinite(s?.blobBytes)
      ? '–'
      : `${bytesText(s.blobBytes)}${s.bytesRatio !== undefined && s.blobBytes > 0 ? ` (${fmtRatio(s.bytesRatio)})` : ''}`
  const row = (name, s, curl = '–') =>
    rows.push(
      `| ${name} | ${cell(s.imgsync)} | ${cell(s.skopeo)} | ${fmtRatio(s.ratio)} | ${curl} | ${rss(s.imgsync)} | ${rss(s.skopeo)} | ${bytes(s.imgsync)} | ${bytes(s.skopeo)} |`,
    )
  const n = (s) => s?.runs ?? 0
  if (sc.cold)
    row(
      `Cold sync: ${c.repositories} repos, ${c.tags} tags, ${mb(c.uniqueBlobBytes)} unique blobs (n=${n(sc.cold.imgsync)})`,
      sc.cold,
    )
  // the same skopeo runs, against imgsync asking the target for every tag
  const fullCheck = (s) => ({ imgsync: s.imgsyncFullCheck, skopeo: s.skopeo, ratio: s.ratioFullCheck })
  if (sc.noop) {
    row(`No-op re-sync, same corpus (n=${n(sc.noop.imgsync)})`, sc.noop)
    if (sc.noop.imgsyncFullCheck) row('… the same, imgsync `--full-check`', fullCheck(sc.noop))
  }
  if (sc.scaleNoop) {
    const k = sc.scaleNoop.corpus
    row(
      `No-op re-sync at scale: ${k.repositories} repos × ${k.tags / k.repositories} = ${k.tags.toLocaleString('en-US')} tags (n=${n(sc.scaleNoop.imgsync)}/${n(sc.scaleNoop.skopeo)})`,
      sc.scaleNoop,
    )
    if (sc.scaleNoop.imgsyncFullCheck) row('… the same, imgsync `--full-check`', fullCheck(sc.scaleNoop))
  }
  if (sc.bigLayer) {
    const b = sc.bigLayer
    row(
      `One ${b.sizeBytes / MiB} MiB layer (n=${n(b.imgsync)})`,
      b,
      `${cell(b.curl)}, ${rss(b.curl)}; imgsync ${fmtRatio(b.ratioVsCurl)}`,
    )
  }
  if (sc.flat) row(`One ${sc.flat.sizeBytes / MiB} MiB layer, imgsync only (n=1)`, sc.flat)
  if (sc.startup) row(`\`--version\` (n=${n(sc.startup.imgsync)})`, sc.startup)
  const table = [
    '| Scenario | imgsync | skopeo | imgsync / skopeo | raw curl | imgsync peak RSS | skopeo peak RSS | blob bytes to target: imgsync | skopeo |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ]
  const targets = [
    '| Target (issue 8) | Measured | Met |',
    '| --- | ---: | :---: |',
    ...res.targets.map((t) => `| ${t.label} | ${t.shown} | ${t.met ? 'yes' : '**no**'} |`),
  ]
  return `${table.join('\n')}\n\n${targets.join('\n')}\n`
}

function machineLine(res) {
  const m = res.machine
  const load = m.loadAvgEnd === undefined ? '' : `, load average ${m.loadAvgStart} → ${m.loadAvgEnd}`
  return `${m.nproc} cores (${m.cpu}), ${m.memoryGiB} GiB RAM, ${m.os}, Node ${m.node}, skopeo ${m.skopeo}, distribution ${m.distribution}, curl ${m.curl}${load}; ${res.date.slice(0, 10)}`
}

async function updateReadme(res, md) {
  const file = join(ROOT, 'README.md')
  const text = await readFile(file, 'utf8')
  const p = res.params
  const section = [
    '## Benchmark',
    '',
    '`npm run bench` starts fresh loopback registries (CNCF distribution), pushes a generated corpus,',
    'and times imgsync against `skopeo sync --all --preserve-digests` side by side: every cold run',
    'gets an empty target registry; wall times are medians of n runs; peak RSS from GNU time; blob',
    'bytes are what the target received (a counting proxy in front of it), against the unique blob',
    'bytes of the corpus. `node bench/run.js --help` lists the parameters; bench/results.json has',
    'every run.',
    '',
    `Latest run: ${machineLine(res)}.`,
    `Corpus: ${p.repos} repos × ${p.tags} tags × ${p.layers} layers of ${binarySize(p.layerSize)}, ${p.shared} of them a shared base, plus one multi-arch index and one Helm chart.`,
    'A high load average means other work shared the CPUs: compare the ratios, which come from runs',
    'interleaved under the same conditions, more than the absolute times.',
    'No-op rows: imgsync runs as users run it, trusting target tags it pushed or checked within 24 h',
    'that are still listed (one tag list per repository, see How a copy works); the `--full-check` rows',
    'ask the target for every tag, against the same skopeo runs.',
    '',
    md.trimEnd(),
    '',
  ].join('\n')
  const start = text.search(/^## Benchmark\s*$/m)
  let next
  if (start === -1) next = `${text.trimEnd()}\n\n${section}`
  else {
    const rest = text.slice(start + 1)
    const end = rest.search(/^## /m)
    next = text.slice(0, start) + section + (end === -1 ? '' : `\n${rest.slice(end)}`)
  }
  await writeFile(file, next.endsWith('\n') ? next : `${next}\n`)
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const o = parseOptions(process.argv.slice(2))
  const bench = new Bench(o)
  const stop = (signal) => {
    killAllRegistries()
    process.exitCode = 130
    log(`${signal}: stopped`)
    process.exit(130)
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  const t0 = Date.now()
  const res = {
    schema: 1,
    date: new Date().toISOString(),
    smoke: o.smoke,
    machine: machineInfo(),
    params: {
      runs: o.runs,
      repos: o.repos,
      tags: o.tags,
      layers: o.layers,
      layerSize: o.layerSize,
      shared: o.shared,
      scaleRepos: o.scaleRepos,
      scaleTags: o.scaleTags,
      bigMiB: o.bigMiB,
      flatMiB: o.flatMiB,
      versionRuns: o.versionRuns,
      seed: o.seed,
    },
    corpus: undefined,
    scenarios: {},
  }
  try {
    await bench.setup()
    const sc = res.scenarios
    if (o.only.has('cold')) {
      await bench.pushSyncCorpus()
      res.corpus = bench.corpus.summary
      sc.cold = scenario(await bench.cold(), res.corpus.uniqueBlobBytes)
      if (o.only.has('noop')) sc.noop = scenario(await bench.noop(), res.corpus.uniqueBlobBytes)
      else for (const t of Object.values(bench.filled)) await t.stop()
    }
    if (o.only.has('scale') && o.scaleRepos > 0 && o.scaleTags > 0) {
      const { corpus, runs } = await bench.scale()
      sc.scaleNoop = scenario(runs, undefined, { corpus })
    }
    if (o.only.has('big') && o.bigMiB > 0) {
      const { sizeBytes, uniqueBlobBytes, runs } = await bench.big()
      sc.bigLayer = scenario(runs, uniqueBlobBytes, { sizeBytes })
    }
    if (o.only.has('flat') && o.flatMiB > 0 && o.flatMiB !== o.bigMiB) {
      const { sizeBytes, runs } = await bench.flat()
      sc.flat = scenario(runs, sizeBytes, { sizeBytes })
    }
    if (o.only.has('startup')) sc.startup = scenario(await bench.startup())
  } finally {
    await bench.cleanup()
  }
  res.durationS = Math.round((Date.now() - t0) / 100) / 10
  res.machine.loadAvgEnd = Math.round(os.loadavg()[0] * 100) / 100
  res.targets = evaluateTargets(res.scenarios)
  res.failures = bench.failures
  const md = markdown(res)
  await mkdir(dirname(o.out), { recursive: true })
  await writeFile(o.out, `${JSON.stringify(res, null, 2)}\n`)
  process.stdout.write(`\n${md}\n${machineLine(res)}; bench took ${res.durationS} s\n`)
  if (o.readme) await updateReadme(res, md)
  log(`results in ${o.out}${o.readme ? '; README.md Benchmark section updated' : ''}`)
  if (bench.failures.length > 0) {
    log(`${bench.failures.length} run(s) failed:\n${bench.failures.join('\n')}`)
    process.exitCode = 1
  }
}

main().catch((err) => {
  killAllRegistries()
  process.stderr.write(`[bench] error: ${err.stack ?? err}\n`)
  process.exitCode = 1
})
