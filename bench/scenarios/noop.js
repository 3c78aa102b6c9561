// No-op re-sync of the corpus the cold runs put in each tool's last target (spec.filled).
import { log, secs } from '../lib/format.js'
import { imgsyncRule, skopeoSync } from '../lib/tools.js'
import { scenarioNames, slowAlready } from './cold.js'

export async function noop(bench, spec) {
  const names = scenarioNames(spec)
  const runs = { imgsync: [], skopeo: [], imgsyncFullCheck: [] }
  for (let i = 0; i < bench.o.runs; i++) {
    const order =
      i % 2 === 0 ? ['imgsync', 'skopeo', 'imgsyncFullCheck'] : ['imgsyncFullCheck', 'skopeo', 'imgsync']
    for (const tool of order) {
      if (slowAlready(spec, runs[tool])) continue
      const target = spec.filled[tool === 'skopeo' ? 'skopeo' : 'imgsync']
      const run =
        tool === 'skopeo'
          ? await skopeoSync(bench, target, spec.corpus)
          : await imgsyncRule(
              bench,
              target,
              spec.corpus.namespace,
              tool === 'imgsyncFullCheck' ? ['--full-check'] : [],
            )
      const what = names.what(`no-op ${tool} run ${i + 1}`)
      if (!run.ok) bench.fail(what, run)
      else if (run.items && run.items.synced + run.items.failed > 0)
        bench.fail(what, run, `not a no-op: ${JSON.stringify(run.items)}`)
      runs[tool].push(run)
      log(
        `${names.what(`no-op ${tool}`)} ${i + 1}/${bench.o.runs}: ${secs(run.wallMs)}, ${run.target.requests} requests to target`,
      )
    }
  }
  for (const t of Object.values(spec.filled)) await t.stop()
  return runs
}
