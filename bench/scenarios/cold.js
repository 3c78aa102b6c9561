// Cold sync: every run of every tool starts from an empty target registry.
import { targetRepo } from '../lib/bench.js'
import { pushCorpus, verifyCorpus } from '../lib/client.js'
import { syncCorpus } from '../lib/corpus.js'
import { bytesText, log, mb, secs } from '../lib/format.js'
import { imgsyncRule, imgsyncRuleFile, skopeoSync } from '../lib/tools.js'

/** Generates a sync corpus under `namespace` and pushes it to the source registry. */
export async function pushSyncCorpus(
  bench,
  namespace = 'corpus',
  repos = bench.o.repos,
  tags = bench.o.tags,
) {
  const o = bench.o
  const t0 = Date.now()
  const corpus = syncCorpus({
    namespace,
    repos,
    tags,
    layers: o.layers,
    layerSize: o.layerSize,
    shared: o.shared,
    seed: o.seed,
  })
  await pushCorpus(bench.srcClient, corpus)
  for (const b of corpus.blobs.values()) b.bytes = undefined
  const s = corpus.summary
  log(
    `${namespace === 'corpus' ? '' : `${namespace} `}corpus: ${s.repositories} repositories, ${s.tags} tags, ${s.manifests} manifests, ${s.uniqueBlobs} unique blobs = ${mb(s.uniqueBlobBytes)} (pushed in ${secs(Date.now() - t0)})`,
  )
  if (namespace === 'corpus') bench.corpus = corpus
  return corpus
}

/** How a scenario runs: on which corpus, over which link ({ src, delayMs, ... }), under which label. */
export function scenarioNames(spec) {
  const label = spec.label ? `${spec.label} ` : ''
  return {
    what: (s) => `${label}${s}`,
    target: (s) => `${spec.label ? `${spec.label.toLowerCase()}-` : ''}${s}`,
  }
}

/** Whether `tool` already had a run slower than spec.slowMs (then it runs once only). */
export const slowAlready = (spec, list) =>
  spec.slowMs !== undefined && list.length > 0 && list[0].wallMs > spec.slowMs

/**
 * The cold runs of spec.corpus; the last target of each tool stays (spec.filled) for the no-op runs.
 * @param {{ corpus: object, link?: object, label?: string, slowMs?: number, filled?: object }} spec
 */
export async function cold(bench, spec) {
  const { corpus } = spec
  const names = scenarioNames(spec)
  const runs = { imgsync: [], skopeo: [] }
  spec.filled = {}
  for (let i = 0; i < bench.o.runs; i++) {
    const order = i % 2 === 0 ? ['imgsync', 'skopeo'] : ['skopeo', 'imgsync']
    for (const tool of order) {
      if (slowAlready(spec, runs[tool])) continue
      const target = await bench.freshTarget(names.target(`cold-${tool}-${i}`), spec.link)
      if (tool === 'imgsync') await imgsyncRuleFile(bench, target, corpus.namespace)
      const run =
        tool === 'imgsync'
          ? await imgsyncRule(bench, target, corpus.namespace)
          : await skopeoSync(bench, target, corpus)
      const problems = run.ok ? await verifyCorpus(target.client, corpus, targetRepo(tool)) : []
      if (!run.ok || problems.length > 0)
        bench.fail(names.what(`cold ${tool} run ${i + 1}`), run, problems.slice(0, 5).join('\n'))
      runs[tool].push(run)
      log(
        `${names.what(`cold ${tool}`)} ${i + 1}/${bench.o.runs}: ${secs(run.wallMs)}, ${bytesText(run.target.blobBytes)} blob bytes to target`,
      )
      if (spec.filled[tool]) await spec.filled[tool].stop()
      spec.filled[tool] = target
    }
  }
  return runs
}
