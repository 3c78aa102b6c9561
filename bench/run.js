#!/usr/bin/env node
// imgsync vs skopeo on loopback CNCF distribution registries. `npm run bench` (builds first), or
// `node bench/run.js --help`. Prints Markdown tables; a full run (every scenario) writes
// bench/results.json and refreshes the "## Benchmark" section of README.md, a partial one writes
// bench/work/results-partial.json only. Nothing here ever leaves 127.0.0.1.
// The scenarios are in bench/scenarios/, the shared pieces in bench/lib/.
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { dirname } from 'node:path'
import { Bench, machineInfo } from './lib/bench.js'
import { log } from './lib/format.js'
import { parseOptions } from './lib/options.js'
import { updateReadme } from './lib/readme.js'
import { killAllRegistries } from './lib/registry.js'
import { machineLine, markdown } from './lib/report.js'
import { evaluateTargets, scenario } from './lib/summary.js'
import { big } from './scenarios/big.js'
import { cold, pushSyncCorpus } from './scenarios/cold.js'
import { fault, faultEnabled } from './scenarios/fault.js'
import { flat } from './scenarios/flat.js'
import { noop } from './scenarios/noop.js'
import { scale } from './scenarios/scale.js'
import { startup } from './scenarios/startup.js'
import { wan, wanEnabled } from './scenarios/wan.js'

function newResults(o) {
  return {
    schema: 1,
    date: new Date().toISOString(),
    smoke: o.smoke,
    /** some scenario was left out (see `node bench/run.js --help`) */
    partial: o.partial,
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
      concurrency: o.concurrency,
      wanDelayMs: o.wanDelayMs,
      wanBandwidth: o.wanBandwidth,
      wanRepos: o.wanRepos,
      wanTags: o.wanTags,
      faultRate: o.faultRate,
      faultSeed: o.faultSeed,
    },
    corpus: undefined,
    scenarios: {},
  }
}

/** Runs the selected scenarios in order, filling res.scenarios. */
async function runScenarios(bench, res) {
  const o = bench.o
  const sc = res.scenarios
  if (o.only.has('cold')) {
    const lan = { corpus: await pushSyncCorpus(bench) }
    res.corpus = lan.corpus.summary
    sc.cold = scenario(await cold(bench, lan), res.corpus.uniqueBlobBytes)
    if (o.only.has('noop')) sc.noop = scenario(await noop(bench, lan), res.corpus.uniqueBlobBytes)
    else for (const t of Object.values(lan.filled)) await t.stop()
  }
  if (o.only.has('scale') && o.scaleRepos > 0 && o.scaleTags > 0) {
    const { corpus, runs } = await scale(bench)
    sc.scaleNoop = scenario(runs, undefined, { corpus })
  }
  if (o.only.has('big') && o.bigMiB > 0) {
    const { sizeBytes, uniqueBlobBytes, runs } = await big(bench)
    sc.bigLayer = scenario(runs, uniqueBlobBytes, { sizeBytes })
  }
  if (o.only.has('flat') && o.flatMiB > 0 && o.flatMiB !== o.bigMiB) {
    const { sizeBytes, runs } = await flat(bench)
    sc.flat = scenario(runs, sizeBytes, { sizeBytes })
  }
  if (o.only.has('startup')) sc.startup = scenario(await startup(bench))
  // not in res.scenarios: their tables and measures are their own
  if (wanEnabled(o)) res.wan = await wan(bench)
  if (faultEnabled(o)) res.fault = await fault(bench)
}

/** Writes results.json, prints the tables, refreshes README.md when asked. */
async function output(o, res, failures) {
  const md = markdown(res)
  await mkdir(dirname(o.out), { recursive: true })
  await writeFile(o.out, `${JSON.stringify(res, null, 2)}\n`)
  process.stdout.write(`\n${md}\n${machineLine(res)}; bench took ${res.durationS} s\n`)
  if (o.readme) await updateReadme(res, md)
  const readme = o.readme
    ? '; README.md Benchmark section updated'
    : o.partial
      ? '; partial run: README.md left as it is'
      : ''
  log(`results in ${o.out}${readme}`)
  if (failures.length > 0) {
    log(`${failures.length} run(s) failed:\n${failures.join('\n')}`)
    process.exitCode = 1
  }
}

/** --render FILE: the README section from a results file, nothing run. */
async function render(file) {
  const res = JSON.parse(await readFile(file, 'utf8'))
  // targets are derived from the scenarios: judged by today's targets, whenever the runs were
  res.targets = evaluateTargets(res.scenarios, res.wan?.scenarios)
  await updateReadme(res, markdown(res))
  log(`README.md Benchmark section rewritten from ${file}`)
}

async function main() {
  const o = parseOptions(process.argv.slice(2))
  if (o.render) return render(o.render)
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
  const res = newResults(o)
  try {
    await bench.setup()
    await runScenarios(bench, res)
  } finally {
    await bench.cleanup()
  }
  res.durationS = Math.round((Date.now() - t0) / 100) / 10
  res.machine.loadAvgEnd = Math.round(os.loadavg()[0] * 100) / 100
  res.targets = evaluateTargets(res.scenarios, res.wan?.scenarios)
  res.failures = bench.failures
  await output(o, res, bench.failures)
}

main().catch((err) => {
  killAllRegistries()
  process.stderr.write(`[bench] error: ${err.stack ?? err}\n`)
  process.exitCode = 1
})
