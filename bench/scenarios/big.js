// Large layer: one image with a single big layer, copied by curl (the raw limit), imgsync and skopeo.
import { pushBigImage } from '../lib/client.js'
import { log, MiB, mb, secs } from '../lib/format.js'
import { copyBig, verifyBig } from '../lib/tools.js'

export async function big(bench) {
  const o = bench.o
  const t0 = Date.now()
  const image = await pushBigImage(bench.srcClient, 'big/layer', 'v1', o.bigMiB * MiB, o.seed)
  log(`big layer: ${o.bigMiB} MiB pushed to the source in ${secs(Date.now() - t0)}`)
  const runs = { imgsync: [], skopeo: [], curl: [] }
  const tools = ['curl', 'imgsync', 'skopeo']
  for (let i = 0; i < o.runs; i++) {
    for (let k = 0; k < tools.length; k++) {
      const tool = tools[(k + i) % tools.length]
      const target = await bench.freshTarget(`big-${tool}-${i}`)
      const run = await copyBig(bench, tool, target, image, 'big/layer')
      await verifyBig(bench, tool, target, image, 'big/layer', run, `big layer ${tool} run ${i + 1}`)
      runs[tool].push(run)
      log(`big layer ${tool} ${i + 1}/${o.runs}: ${secs(run.wallMs)}, peak RSS ${mb(run.rssKiB * 1024)}`)
      await target.stop()
    }
  }
  return { sizeBytes: image.size, uniqueBlobBytes: image.uniqueBlobBytes, runs }
}
