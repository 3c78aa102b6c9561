// From timed runs to results: per-tool medians, ratios between tools, and the performance targets
// (issue 16: loopback and a cross-region link).
import { atMost, fmtRatio, MiB, ratio, round3 } from './format.js'
import { median } from './measure.js'

export function summarize(runs, uniqueBlobBytes) {
  if (!runs || runs.length === 0) return undefined
  const ok = runs.filter((r) => r.ok)
  const med = (f) => median(ok.map(f))
  const out = {
    runs: runs.length,
    ok: ok.length === runs.length,
    wallMs: med((r) => r.wallMs),
    wallMsAll: runs.map((r) => r.wallMs),
    peakRssMB: Math.round((Math.max(...runs.map((r) => r.rssKiB)) * 1024) / 1e4) / 100,
  }
  if (runs[0].target) {
    out.blobBytes = med((r) => r.target.blobBytes)
    if (uniqueBlobBytes) out.bytesRatio = Math.round((out.blobBytes / uniqueBlobBytes) * 1e4) / 1e4
    out.manifestBytes = med((r) => r.target.manifestBytes)
    out.wireBytes = med((r) => r.target.wireBytes)
    out.targetRequests = med((r) => r.target.requests)
    out.sourceRequests = med((r) => r.source.requests)
    out.sourceBlobGets = med((r) => r.source.blobGets)
  }
  if (runs[0].items) out.items = runs.at(-1).items
  return out
}

export function scenario(runs, uniqueBlobBytes, extra = {}) {
  const s = { ...extra }
  for (const [tool, list] of Object.entries(runs)) s[tool] = summarize(list, uniqueBlobBytes)
  // unrounded: whether a target is met is decided on these, not on their display
  if (s.imgsync && s.skopeo) s.ratio = ratio(s.imgsync.wallMs, s.skopeo.wallMs)
  if (s.imgsyncFullCheck && s.skopeo) s.ratioFullCheck = ratio(s.imgsyncFullCheck.wallMs, s.skopeo.wallMs)
  if (s.imgsync && s.curl) s.ratioVsCurl = ratio(s.imgsync.wallMs, s.curl.wallMs)
  s.raw = runs
  return s
}

/** Shown to three decimals; met or not is decided on the unrounded ratio. `wan`: the WAN scenarios. */
export function evaluateTargets(sc, wan) {
  const t = []
  const add = (id, label, measured, shown, met) => t.push({ id, label, measured, shown, met })
  const addRatio = (id, label, r, limit) => add(id, label, r, fmtRatio(r, 3), atMost(r, limit))
  if (sc.cold) {
    addRatio('cold', 'cold sync ≤ 0.5× skopeo', sc.cold.ratio, 0.5)
    const b = sc.cold.imgsync.bytesRatio
    add(
      'bytes',
      'bytes received by the target = 1.00× unique blob bytes (cold)',
      b,
      fmtRatio(b),
      atMost(Math.abs(b - 1), 0.0049),
    )
  }
  if (sc.noop) addRatio('noop', 'no-op re-sync ≤ 0.5× skopeo', sc.noop.ratio, 0.5)
  if (sc.scaleNoop)
    addRatio(
      'scaleNoop',
      `no-op at ${sc.scaleNoop.corpus.tags} tags ≤ 0.15× skopeo`,
      sc.scaleNoop.ratio,
      0.15,
    )
  if (sc.bigLayer) {
    addRatio('bigLayer', 'large layer ≤ 1.2× raw curl stream', sc.bigLayer.ratioVsCurl, 1.2)
    const rss = sc.bigLayer.imgsync.peakRssMB
    add('rss', 'imgsync peak RSS ≤ 150 MB (large layer)', rss, `${rss} MB`, atMost(rss, 150))
  }
  if (sc.bigLayer && sc.flat) {
    const a = sc.bigLayer.imgsync.peakRssMB
    const b = sc.flat.imgsync.peakRssMB
    const d = Math.abs(b - a) / a
    add(
      'rssFlat',
      `RSS flat: ${sc.bigLayer.sizeBytes / MiB} MiB vs ${sc.flat.sizeBytes / MiB} MiB layer within 10%`,
      round3(d),
      `${a} vs ${b} MB (${(d * 100).toFixed(0)}%)`,
      atMost(d, 0.1),
    )
  }
  for (const [id, what, limit] of [
    ['cold', 'cold sync', 0.06],
    ['noop', 'no-op re-sync', 0.05],
  ]) {
    const w = wan?.[id]
    if (!w?.imgsync) continue
    addRatio(`wan-${id}`, `WAN ${what} ≤ ${limit}× skopeo`, w.ratio, limit)
    addRatio(`wan-${id}-floor`, `WAN ${what} within 2× its round-trip floor`, w.imgsync.vsFloor, 2)
  }
  if (sc.startup) {
    const s = sc.startup.imgsync.wallMs / 1000
    add('startup', 'imgsync --version ≤ 0.3 s', s, `${s.toFixed(2)} s`, atMost(s, 0.3))
  }
  return t
}
