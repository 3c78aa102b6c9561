// Cold sync: every run of every tool starts from an empty target registry.

import { targetRepo } from '../lib/bench.js'
import { pushCorpus, verifyCorpus } from '../lib/client.js'
import { syncCorpus } from '../lib/corpus.js'
import { bytesText, log, mb, secs } from '../lib/format.js'
import { imgsyncRule, imgsyncRuleFile, skopeoSync } from '../lib/tools.js'

/** Generates the sync corpus and pushes it to the source registry (bench.corpus). */
export async function pushSyncCorpus(bench) {
  const o = bench.o
  const t0 = Date.now()
  bench.corpus = syncCorpus({
    namespace: 'corpus',
    repos: o.repos,
    tags: o.tags,
    layers: o.layers,
    layerSize: o.layerSize,
    shared: o.shared,
    seed: o.seed,
  })
  await pushCorpus(bench.srcClient, bench.corpus)
  for (const b of bench.corpus.blobs.values()) b.bytes = undefined
  const s = bench.corpus.summary
  log(
    `corpus: ${s.repositories} repositories, ${s.tags} tags, ${s.manifests} manifests, ${s.uniqueBlobs} unique blobs = ${mb(s.uniqueBlobBytes)} (pushed in ${secs(Date.now() - t0)})`,
  )
}

/** The cold runs; the last target of each tool stays (bench.filled) for the no-op runs. */
export async function cold(bench) {
  const runs = { imgsync: [], skopeo: [] }
  bench.filled = {}
  for (let i = 0; i < bench.o.runs; i++) {
    const order = i % 2 === 0 ? ['imgsync', 'skopeo'] : ['skopeo', 'imgsync']
    for (const tool of order) {
      const target = await bench.freshTarget(`cold-${tool}-${i}`)
      if (tool === 'imgsync') await imgsyncRuleFile(bench, target, 'corpus')
      const run =
        tool === 'imgsync'
          ? await imgsyncRule(bench, target, 'corpus')
          : await skopeoSync(bench, target, bench.corpus)
      const problems = run.ok ? await verifyCorpus(target.client, bench.corpus, targetRepo(tool)) : []
      if (!run.ok || problems.length > 0)
        bench.fail(`cold ${tool} run ${i + 1}`, run, problems.slice(0, 5).join('\n'))
      runs[tool].push(run)
      log(
        `cold ${tool} ${i + 1}/${bench.o.runs}: ${secs(run.wallMs)}, ${bytesText(run.target.blobBytes)} blob bytes to target`,
      )
      if (bench.filled[tool]) await bench.filled[tool].stop()
      bench.filled[tool] = target
    }
  }
  return runs
}
