// No-op re-sync of the corpus the cold runs put in each tool's last target.
import { log, secs } from '../lib/format.js'
import { imgsyncRule, skopeoSync } from '../lib/tools.js'

export async function noop(bench) {
  const runs = { imgsync: [], skopeo: [], imgsyncFullCheck: [] }
  for (let i = 0; i < bench.o.runs; i++) {
    const order =
      i % 2 === 0 ? ['imgsync', 'skopeo', 'imgsyncFullCheck'] : ['imgsyncFullCheck', 'skopeo', 'imgsync']
    for (const tool of order) {
      const target = bench.filled[tool === 'skopeo' ? 'skopeo' : 'imgsync']
      const run =
        tool === 'skopeo'
          ? await skopeoSync(bench, target, bench.corpus)
          : await imgsyncRule(bench, target, 'corpus', tool === 'imgsyncFullCheck' ? ['--full-check'] : [])
      if (!run.ok) bench.fail(`no-op ${tool} run ${i + 1}`, run)
      else if (run.items && run.items.synced + run.items.failed > 0)
        bench.fail(`no-op ${tool} run ${i + 1}`, run, `not a no-op: ${JSON.stringify(run.items)}`)
      runs[tool].push(run)
      log(
        `no-op ${tool} ${i + 1}/${bench.o.runs}: ${secs(run.wallMs)}, ${run.target.requests} requests to target`,
      )
    }
  }
  for (const t of Object.values(bench.filled)) await t.stop()
  return runs
}
