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
  only: {
    env: 'BENCH_ONLY',
    def: 'cold,noop,scale,big,flat,startup',
    smoke: 'cold,noop,startup',
    help: 'scenarios to run',
  },
}

/** Flags that take no value. */
const SWITCHES = {
  smoke: 'tiny corpus, 1 run, no scale / big layer; for the test suite',
  'no-readme': 'do not refresh the Benchmark section of README.md',
}

export function usage() {
  const lines = ['usage: node bench/run.js [--smoke] [--no-readme] [--OPTION VALUE ...]', '']
  for (const [name, o] of Object.entries(OPTIONS)) {
    lines.push(`  --${name.padEnd(13)} ${o.help} (default ${o.def}; env ${o.env})`)
  }
  for (const [name, help] of Object.entries(SWITCHES)) lines.push(`  --${name.padEnd(13)} ${help}`)
  return lines.join('\n')
}

export function parseSize(value) {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?$/i.exec(String(value).trim())
  if (!m) throw new Error(`not a size: ${value}`)
  const mult = { '': 1, k: 1024, m: MiB, g: 1024 * MiB }[m[2].toLowerCase()]
  return Math.round(Number(m[1]) * mult)
}

/** argv → { flags, switches }; --help prints the usage and exits. */
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
    if (!name || !Object.hasOwn(OPTIONS, name)) throw new Error(`unknown argument ${a}\n${usage()}`)
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

export function parseOptions(argv) {
  const flags = readArgv(argv)
  const smoke = flags.smoke === true
  const { get, int } = readers(flags, smoke)
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
