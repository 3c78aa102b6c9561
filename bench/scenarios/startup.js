// Start-up: `imgsync --version` against `skopeo --version`.
import { NODE } from '../lib/bench.js'
import { log, secs } from '../lib/format.js'
import { measure, median, runRecord } from '../lib/measure.js'
import { ROOT } from '../lib/options.js'

export async function startup(bench) {
  const runs = { imgsync: [], skopeo: [] }
  for (let i = 0; i < bench.o.versionRuns; i++) {
    for (const [tool, cmd, args] of [
      ['imgsync', NODE, [bench.o.bin, '--version']],
      ['skopeo', 'skopeo', ['--version']],
    ]) {
      const r = await measure(cmd, args, { cwd: ROOT, tmp: bench.work })
      const run = runRecord(tool, r)
      if (!run.ok) bench.fail(`${tool} --version`, run, r.stderr.trim())
      runs[tool].push(run)
    }
  }
  log(`start-up: imgsync --version ${secs(median(runs.imgsync.map((r) => r.wallMs)))}`)
  return runs
}
