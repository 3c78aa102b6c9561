// WAN: a cross-region link. The cold sync, the no-op re-sync, the no-op at scale and the large
// layer again, with both registries behind link proxies that hold every request for --wan-delay ms
// (and cap the bandwidth with --wan-bandwidth); imgsync and skopeo go through the same proxies.

import { imgsyncLanes, requiredRequests, roundTripFloor, wanScenario } from '../lib/floor.js'
import { log } from '../lib/format.js'
import { startLinkProxy } from '../lib/link-proxy.js'
import { big } from './big.js'
import { cold, pushSyncCorpus } from './cold.js'
import { noop } from './noop.js'
import { scale } from './scale.js'

export const wanEnabled = (o) => o.only.has('wan') && o.wanDelayMs > 0

export async function wan(bench) {
  const o = bench.o
  const settings = { delayMs: o.wanDelayMs, bandwidth: o.wanBandwidth }
  const lanes = imgsyncLanes(o.concurrency)
  const floorOf = (kind, corpus, bytes = 0) =>
    roundTripFloor(requiredRequests(kind, corpus), { lanes, ...settings, bytes })
  const out = {
    params: {
      ...settings,
      concurrency: o.concurrency,
      lanes,
      repos: o.wanRepos,
      tags: o.wanTags,
    },
    corpus: undefined,
    scenarios: {},
  }
  const src = await startLinkProxy(bench.src.port, settings)
  const link = { src, ...settings }
  log(`WAN: ${o.wanDelayMs} ms per request${o.wanBandwidth ? `, ${o.wanBandwidth} bytes/s each way` : ''}`)
  try {
    const corpus = await pushSyncCorpus(bench, 'wan', o.wanRepos, o.wanTags)
    const c = corpus.summary
    out.corpus = c
    const spec = { corpus, link, label: 'WAN', slowMs: o.slowMs }
    out.scenarios.cold = wanScenario(
      await cold(bench, spec),
      c.uniqueBlobBytes,
      floorOf('cold', c, c.uniqueBlobBytes),
    )
    out.scenarios.noop = wanScenario(await noop(bench, spec), c.uniqueBlobBytes, floorOf('noop', c))
    if (o.scaleRepos > 0 && o.scaleTags > 0) {
      const { corpus: k, runs } = await scale(bench, { link, label: 'WAN' })
      out.scenarios.scaleNoop = wanScenario(runs, undefined, floorOf('noop', k), { corpus: k })
    }
    if (o.bigMiB > 0) {
      const { sizeBytes, uniqueBlobBytes, runs } = await big(bench, { ...spec, tools: ['imgsync', 'skopeo'] })
      out.scenarios.bigLayer = wanScenario(runs, uniqueBlobBytes, floorOf('big', {}, uniqueBlobBytes), {
        sizeBytes,
      })
    }
  } finally {
    await src.close()
  }
  return out
}
