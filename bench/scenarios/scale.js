// No-op at scale: source and target both hold the same ≥1,500 tags (pushed directly, same digests).
import { pushCorpus } from '../lib/client.js'
import { scaleCorpus } from '../lib/corpus.js'
import { log, secs } from '../lib/format.js'
import { imgsyncRule, imgsyncRuleFile, skopeoSync } from '../lib/tools.js'
import { scenarioNames } from './cold.js'

/** @param {{ link?: object, label?: string }} [spec] */
export async function scale(bench, spec = {}) {
  const o = bench.o
  const names = scenarioNames(spec)
  const t0 = Date.now()
  const corpus = scaleCorpus({ namespace: 'scale', repos: o.scaleRepos, tags: o.scaleTags, seed: o.seed })
  const target = await bench.freshTarget(names.target('scale-target'), spec.link)
  // the source keeps the scale corpus for a later scenario (WAN) on it
  const toSource = bench.scalePushed ? undefined : pushCorpus(bench.srcClient, corpus)
  await Promise.all([toSource, pushCorpus(target.client, corpus)])
  bench.scalePushed = true
  log(
    `${names.what('scale corpus')}: ${corpus.summary.tags} tags pushed to source and target in ${secs(Date.now() - t0)}`,
  )
  await imgsyncRuleFile(bench, target, 'scale')
  const runs = { imgsync: [], skopeo: [], imgsyncFullCheck: [] }
  // imgsync's first run checks every target tag (the target was filled by pushing, not by imgsync)
  // and remembers them; the timed runs then show the remembered path and the --full-check path
  const warm = await imgsyncRule(bench, target, 'scale')
  if (!warm.ok) bench.fail(names.what('scale no-op imgsync warm-up'), warm)
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
      const what = names.what(`scale no-op ${tool} run ${i + 1}`)
      if (!run.ok) bench.fail(what, run)
      else if (
        run.items &&
        (run.items.synced + run.items.failed > 0 || run.items.skipped !== corpus.summary.tags)
      )
        bench.fail(what, run, `not a full no-op: ${JSON.stringify(run.items)}`)
      runs[tool].push(run)
      log(
        `${names.what(`scale no-op ${tool}`)} ${i + 1}/${o.runs}: ${secs(run.wallMs)}, ${run.target.requests} requests to target`,
      )
    }
  }
  await target.stop()
  return { corpus: corpus.summary, runs }
}
