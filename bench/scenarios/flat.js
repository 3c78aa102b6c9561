// Flat RSS: imgsync alone on a much larger layer than --big, once.
import { pushBigImage } from '../lib/client.js'
import { log, MiB, mb, secs } from '../lib/format.js'
import { copyBig, verifyBig } from '../lib/tools.js'

/** imgsync alone on a much larger layer, once: its peak RSS should match the big-layer runs. */
export async function flat(bench) {
  const o = bench.o
  const t0 = Date.now()
  const image = await pushBigImage(bench.srcClient, 'big/flat', 'v1', o.flatMiB * MiB, o.seed)
  log(`flat check: ${o.flatMiB} MiB pushed to the source in ${secs(Date.now() - t0)}`)
  const target = await bench.freshTarget('flat-imgsync')
  const run = await copyBig(bench, 'imgsync', target, image, 'big/flat')
  await verifyBig(bench, 'imgsync', target, image, 'big/flat', run, 'flat imgsync')
  log(`flat imgsync: ${secs(run.wallMs)}, peak RSS ${mb(run.rssKiB * 1024)}`)
  await target.stop()
  return { sizeBytes: image.size, runs: { imgsync: [run] } }
}
