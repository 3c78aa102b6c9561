// Faults: registries as they really behave. imgsync and skopeo each copy the sync corpus once,
// through link proxies that answer --fault-rate of the requests on both sides with a 503, a 429
// (Retry-After: 1) or a connection reset halfway through the response, drawn from a PRNG seeded
// with --fault-seed (each tool gets the same sequence). This measures completion, not speed: which
// tags arrived whole (their digests checked at the target afterwards), the exit code, the wall time.
// A tool that gives up on items is a result here, not a failure of the bench.
import { targetRepo } from '../lib/bench.js'
import { log, secs } from '../lib/format.js'
import { startLinkProxy } from '../lib/link-proxy.js'
import { imgsyncRule, skopeoSync } from '../lib/tools.js'
import { pushSyncCorpus } from './cold.js'

export const faultEnabled = (o) => o.only.has('fault') && o.faultRate > 0

/** Tags of `corpus` whose digest at the target is the source's (asked of the registry, not the proxy). */
async function completion(target, corpus, mapRepo) {
  const tags = corpus.repositories.flatMap((r) => r.manifests.filter((m) => !m.child).map((m) => ({ r, m })))
  const missing = []
  for (const { r, m } of tags) {
    const got = await target.client
      .headManifest(mapRepo(r.name), m.ref)
      .catch((err) => `error ${err.message}`)
    if (got !== m.digest) missing.push(`${mapRepo(r.name)}:${m.ref} ${got ?? 'missing'}`)
  }
  return { completed: tags.length - missing.length, total: tags.length, missing: missing.slice(0, 10) }
}

function outcome(run) {
  const { completed, total } = run.completion
  if (completed === total)
    return run.code === 0 ? 'completed every item' : 'every item arrived, yet a non-zero exit'
  return `gave up on ${total - completed} of ${total} items${run.code === 0 ? ', yet exit 0' : ''}`
}

/** imgsync's reasons for the items it failed, from its summary ("CODE: message", counted). */
function failureReasons(stderr = '') {
  const reasons = {}
  for (const line of stderr.split('\n')) {
    const m = /^\s*failed\s.*?\s{2}([A-Z_]+): \S+: (.*)$/.exec(line)
    if (!m) continue
    const reason = `${m[1]}: ${m[2].replace(/\S+@sha256:[0-9a-f]+/g, '<blob>')}`
    reasons[reason] = (reasons[reason] ?? 0) + 1
  }
  return reasons
}

/** One tool's fault run as reported: completion, exit code, wall time, requests and faults per side. */
function faultResult(run) {
  const side = (s) => ({ requests: s.requests, byKind: s.byKind, faults: s.faults })
  return {
    tool: run.tool,
    completed: run.completion.completed,
    total: run.completion.total,
    missing: run.completion.missing,
    code: run.code,
    wallMs: run.wallMs,
    outcome: outcome(run),
    ...(run.items ? { items: run.items, reasons: failureReasons(run.error) } : {}),
    source: side(run.link.source),
    target: side(run.link.target),
    ...(run.error ? { error: run.error } : {}),
  }
}

export async function fault(bench) {
  const o = bench.o
  const corpus = bench.corpus ?? (await pushSyncCorpus(bench))
  const settings = { delayMs: 0, bandwidth: 0, fault: { rate: o.faultRate, seed: o.faultSeed } }
  const out = { params: { rate: o.faultRate, seed: o.faultSeed }, corpus: corpus.summary, tools: {} }
  const src = await startLinkProxy(bench.src.port, settings)
  log(
    `faults: ${Math.round(o.faultRate * 100)}% of requests on each side (seed ${o.faultSeed}); completion, not speed`,
  )
  try {
    for (const tool of ['imgsync', 'skopeo']) {
      const target = await bench.freshTarget(`fault-${tool}`, { src, ...settings })
      src.reseed(`${o.faultSeed}/source`)
      target.proxy.reseed(`${o.faultSeed}/target`)
      const run =
        tool === 'imgsync'
          ? await imgsyncRule(bench, target, corpus.namespace)
          : await skopeoSync(bench, target, corpus)
      run.completion = await completion(target, corpus, targetRepo(tool))
      out.tools[tool] = faultResult(run)
      const r = out.tools[tool]
      log(`fault ${tool}: ${r.completed}/${r.total} items, exit ${r.code}, ${secs(r.wallMs)}: ${r.outcome}`)
      await target.stop()
    }
  } finally {
    await src.close()
  }
  return out
}
