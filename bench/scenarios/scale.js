// No-op at scale: source and target both hold the same ≥1,500 tags (pushed directly, same digests).
import { pushCorpus } from '../lib/client.js'
import { scaleCorpus } from '../lib/corpus.js'
import { log, secs } from '../lib/format.js'
import { imgsyncRule, imgsyncRuleFile, skopeoSync } from '../lib/tools.js'

export async function scale(bench) {
  const o = bench.o
  const t0 = Date.now()
  const corpus = scaleCorpus({ namespace: 'scale', repos: o.scaleRepos, tags: o.scaleTags, seed: o.seed })
  const target = await bench.freshTarget('scale-target')
  await Promise.all([pushCorpus(bench.srcClient, corpus), pushCorpus(target.client, corpus)])
  log(`scale corpus: ${corpus.summary.tags} tags pushed to source and target in ${secs(Date.now() - t0)}`)
  await imgsyncRuleFile(bench, target, 'scale')
  const runs = { imgsync: [], skopeo: [], imgsyncFullCheck: [] }
  // imgsync's first run checks every target tag (the target was filled by pushing, not by imgsync)
  // and remembers them; the timed runs then show the remembered path and the --full-check path
  const warm = await imgsyncRule(bench, target, 'scale')
  if (!warm.ok) bench.fail('scale no-op imgsync warm-up', warm)
  for (let i = 0; i < o.runs; i++) {
    const order =
      i % 2 === 0 ? ['imgsync', 'skopeo', 'imgsyncFullCheck'] : ['imgsyncFullCheck', 'skopeo', 'imgsync']
    for (const tool of order) {
      // a tool that took longer than --slow-ms runs once: "≥3 runs where cheap"
      if (runs[tool].length > 0 && runs[tool][0].wallMs > o.slowMs) continue
      const run =
        tool === 'skopeo'
          ? await skopeoSync(bench, target, corpus)
          : await imgsyncRule(bench, target, 'scale', tool === 'imgsyncFullCheck' ? ['--full-check'] : [])
      if (!run.ok) bench.fail(`scale no-op ${tool} run ${i + 1}`, run)
      else if (
        run.items &&
        (run.items.synced + run.items.failed > 0 || run.items.skipped !== corpus.summary.tags)
      )
        bench.fail(`scale no-op ${tool} run ${i + 1}`, run, `not a full no-op: ${JSON.stringify(run.items)}`)
      runs[tool].push(run)
      log(
        `scale no-op ${tool} ${i + 1}/${o.runs}: ${secs(run.wallMs)}, ${run.target.requests} requests to target`,
      )
    }
  }
  await target.stop()
  return { corpus: corpus.summary, runs }
}
