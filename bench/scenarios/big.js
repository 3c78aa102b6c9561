// Large layer: one image with a single big layer, copied by curl (the raw limit), imgsync and skopeo.
import { pushBigImage } from '../lib/client.js'
import { log, MiB, mb, secs } from '../lib/format.js'
import { copyBig, verifyBig } from '../lib/tools.js'
import { scenarioNames, slowAlready } from './cold.js'

/** The big image at the source, pushed once for every scenario that copies it. */
async function bigImage(bench) {
  if (!bench.bigImage) {
    const t0 = Date.now()
    bench.bigImage = await pushBigImage(
      bench.srcClient,
      'big/layer',
      'v1',
      bench.o.bigMiB * MiB,
      bench.o.seed,
    )
    log(`big layer: ${bench.o.bigMiB} MiB pushed to the source in ${secs(Date.now() - t0)}`)
  }
  return bench.bigImage
}

/** @param {{ link?: object, label?: string, slowMs?: number, tools?: string[] }} [spec] */
export async function big(bench, spec = {}) {
  const o = bench.o
  const names = scenarioNames(spec)
  const image = await bigImage(bench)
  const tools = spec.tools ?? ['curl', 'imgsync', 'skopeo']
  const runs = Object.fromEntries(['imgsync', 'skopeo', ...tools].map((t) => [t, []]))
  for (let i = 0; i < o.runs; i++) {
    for (let k = 0; k < tools.length; k++) {
      const tool = tools[(k + i) % tools.length]
      if (slowAlready(spec, runs[tool])) continue
      const target = await bench.freshTarget(names.target(`big-${tool}-${i}`), spec.link)
      const run = await copyBig(bench, tool, target, image, 'big/layer')
      await verifyBig(
        bench,
        tool,
        target,
        image,
        'big/layer',
        run,
        names.what(`big layer ${tool} run ${i + 1}`),
      )
      runs[tool].push(run)
      log(
        `${names.what(`big layer ${tool}`)} ${i + 1}/${o.runs}: ${secs(run.wallMs)}, peak RSS ${mb(run.rssKiB * 1024)}`,
      )
      await target.stop()
    }
  }
  return { sizeBytes: image.size, uniqueBlobBytes: image.uniqueBlobBytes, runs }
}
