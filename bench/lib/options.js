// The bench's parameters: flags, their environment variables, defaults and smoke-run values.
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MiB } from './format.js'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export const OPTIONS = {
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
  concurrency: {
    env: 'BENCH_CONCURRENCY',
    def: 8,
    smoke: 8,
    help: 'imgsync --concurrency in every scenario; the WAN round-trip floor divides by it',
  },
  'wan-delay': {
    env: 'BENCH_WAN_DELAY',
    def: 25,
    smoke: 25,
    help: 'WAN scenarios: ms each request to either registry is held at its proxy (0 skips them)',
  },
  'wan-bandwidth': {
    env: 'BENCH_WAN_BANDWIDTH',
    def: 'none',
    smoke: 'none',
    help: 'WAN scenarios: bytes/s each way per registry link, k/M/G = 10^3/10^6/10^9 (none: no cap)',
  },
  'wan-repos': {
    env: 'BENCH_WAN_REPOS',
    def: 30,
    smoke: 1,
    help: 'WAN scenarios: repositories in the corpus',
  },
  'wan-tags': { env: 'BENCH_WAN_TAGS', def: 5, smoke: 2, help: 'WAN scenarios: tags per repository' },
  'fault-rate': {
    env: 'BENCH_FAULT_RATE',
    def: 0.15,
    smoke: 0.15,
    help: 'fault scenario: share of requests answered 503, 429 or reset mid-body (0 skips it)',
  },
  'fault-seed': {
    env: 'BENCH_FAULT_SEED',
    def: 'imgsync-faults',
    smoke: 'imgsync-faults',
    help: 'fault scenario: PRNG seed (each tool gets the same sequence of faults)',
  },
  only: {
    env: 'BENCH_ONLY',
    def: 'cold,noop,scale,big,flat,startup,wan,fault',
    smoke: 'cold,noop,startup,wan,fault',
    help: 'scenarios to run',
  },
}

/** Flags that take no value. */
const SWITCHES = {
  smoke: 'tiny corpus, 1 run, no scale / big layer, tiny WAN and fault runs; for the test suite',
  'no-readme': 'do not refresh the Benchmark section of README.md',
}

/** A full run has every scenario; only a full run refreshes README.md, and by default bench/results.json. */
export const ALL_SCENARIOS = ['cold', 'noop', 'scale', 'big', 'flat', 'startup', 'wan', 'fault']
const PARTIAL_OUT = 'bench/work/results-partial.json'

export function usage() {
  const lines = ['usage: node bench/run.js [--smoke] [--no-readme] [--OPTION VALUE ...]', '']
  for (const [name, o] of Object.entries(OPTIONS)) {
    lines.push(`  --${name.padEnd(13)} ${o.help} (default ${o.def}; env ${o.env})`)
  }
  for (const [name, help] of Object.entries(SWITCHES)) lines.push(`  --${name.padEnd(13)} ${help}`)
  lines.push(
    '',
    '  A run that leaves a scenario out (--only, or a size or rate of 0) is partial: it writes',
    `  ${PARTIAL_OUT} unless --out or BENCH_OUT says otherwise, and never touches README.md.`,
    '',
    'usage: node bench/run.js --render FILE',
    '',
    '  Rewrites the Benchmark section of README.md from results FILE (e.g. bench/results.json); runs nothing.',
  )
  return lines.join('\n')
}

/** A rate in bytes/s: 500k, 12.5M, 1G (decimal), optionally followed by B/s or /s; none or 0 = no cap. */
export function parseRate(value) {
  const text = String(value).trim()
  if (/^(none|off|0)$/i.test(text)) return 0
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)(?:b?\/s|b)?$/i.exec(text)
  if (!m) throw new Error(`not a rate in bytes/s: ${value}`)
  return Math.round(Number(m[1]) * { '': 1, k: 1e3, m: 1e6, g: 1e9 }[m[2].toLowerCase()])
}

export function parseSize(value) {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?$/i.exec(String(value).trim())
  if (!m) throw new Error(`not a size: ${value}`)
  const mult = { '': 1, k: 1024, m: MiB, g: 1024 * MiB }[m[2].toLowerCase()]
  return Math.round(Number(m[1]) * mult)
}

/** argv → flags by name (true for a switch); --help prints the usage and exits. */
function readArgv(argv) {
  const flags = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--help' || a === '-h') {
      process.stdout.write(`${usage()}\n`)
      process.exit(0)
    }
    if (a.startsWith('--') && Object.hasOwn(SWITCHES, a.slice(2))) {
      flags[a.slice(2)] = true
      continue
    }
    const [name, inline] = a.startsWith('--') ? a.slice(2).split(/=(.*)/s) : []
    if (!name || !(Object.hasOwn(OPTIONS, name) || name === 'render'))
      throw new Error(`unknown argument ${a}\n${usage()}`)
    flags[name] = inline ?? argv[++i]
    if (flags[name] === undefined) throw new Error(`--${name} needs a value`)
  }
  return flags
}

/** A getter of raw values (flag, then environment, then default) and typed readers over it. */
function readers(flags, smoke) {
  const get = (name) =>
    flags[name] ?? process.env[OPTIONS[name].env] ?? OPTIONS[name][smoke ? 'smoke' : 'def']
  const int = (name) => {
    const n = Number(get(name))
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number ≥ 0`)
    return n
  }
  return { get, int }
}

/** The scenarios of ALL_SCENARIOS this run leaves out. */
export function leftOut(o) {
  const runs = {
    scale: o.scaleRepos > 0 && o.scaleTags > 0,
    big: o.bigMiB > 0,
    flat: o.flatMiB > 0 && o.flatMiB !== o.bigMiB,
    wan: o.wanDelayMs > 0,
    fault: o.faultRate > 0,
  }
  return ALL_SCENARIOS.filter((name) => !o.only.has(name) || runs[name] === false)
}

export function parseOptions(argv) {
  const flags = readArgv(argv)
  if (flags.render !== undefined) return { render: resolve(ROOT, String(flags.render)) }
  const smoke = flags.smoke === true
  const { get, int } = readers(flags, smoke)
  const o = {
    smoke,
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
    bin: resolve(ROOT, String(get('imgsync'))),
    concurrency: Math.max(1, int('concurrency')),
    wanDelayMs: int('wan-delay'),
    wanBandwidth: parseRate(get('wan-bandwidth')),
    wanRepos: Math.max(1, int('wan-repos')),
    wanTags: Math.max(1, int('wan-tags')),
    faultRate: Number(get('fault-rate')),
    faultSeed: String(get('fault-seed')),
    only: new Set(
      String(get('only'))
        .split(',')
        .map((s) => s.trim()),
    ),
  }
  if (!(o.shared >= 0 && o.shared <= 1)) throw new Error('--shared must be between 0 and 1')
  if (!(o.faultRate >= 0 && o.faultRate <= 1)) throw new Error('--fault-rate must be between 0 and 1')
  if (o.concurrency > 64) throw new Error('--concurrency must be at most 64 (imgsync’s limit)')
  if (o.only.has('noop')) o.only.add('cold') // a no-op re-sync needs the targets the cold runs filled
  o.partial = !smoke && leftOut(o).length > 0
  const out = flags.out ?? process.env.BENCH_OUT ?? (o.partial ? PARTIAL_OUT : get('out'))
  o.out = resolve(ROOT, String(out))
  o.readme = !smoke && !o.partial && flags['no-readme'] !== true
  return o
}
