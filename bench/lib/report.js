// The Markdown the bench prints and writes into README.md: the scenario table, the targets, and the
// WAN and fault tables when the run had them.
import { faultMarkdown } from './fault-report.js'
import { binarySize, bytesText, fmtRatio, MiB, mb, secs } from './format.js'
import { wanMarkdown } from './wan-report.js'

const cell = (s) => (s ? (s.ok ? secs(s.wallMs) : 'FAILED') : '–')
const rss = (s) => (s ? `${Math.round(s.peakRssMB)} MB` : '–')
const bytes = (s) =>
  !Number.isFinite(s?.blobBytes)
    ? '–'
    : `${bytesText(s.blobBytes)}${s.bytesRatio !== undefined && s.blobBytes > 0 ? ` (${fmtRatio(s.bytesRatio)})` : ''}`
const n = (s) => s?.runs ?? 0
// the same skopeo runs, against imgsync asking the target for every tag
const fullCheck = (s) => ({ imgsync: s.imgsyncFullCheck, skopeo: s.skopeo, ratio: s.ratioFullCheck })

/** The rows of the scenario table, one per scenario (and per `--full-check` variant). */
function scenarioRows(res) {
  const sc = res.scenarios
  const c = res.corpus
  const rows = []
  const row = (name, s, curl = '–') =>
    rows.push(
      `| ${name} | ${cell(s.imgsync)} | ${cell(s.skopeo)} | ${fmtRatio(s.ratio)} | ${curl} | ${rss(s.imgsync)} | ${rss(s.skopeo)} | ${bytes(s.imgsync)} | ${bytes(s.skopeo)} |`,
    )
  if (sc.cold)
    row(
      `Cold sync: ${c.repositories} repos, ${c.tags} tags, ${mb(c.uniqueBlobBytes)} unique blobs (n=${n(sc.cold.imgsync)})`,
      sc.cold,
    )
  if (sc.noop) {
    row(`No-op re-sync, same corpus (n=${n(sc.noop.imgsync)})`, sc.noop)
    if (sc.noop.imgsyncFullCheck) row('… the same, imgsync `--full-check`', fullCheck(sc.noop))
  }
  if (sc.scaleNoop) {
    const k = sc.scaleNoop.corpus
    row(
      `No-op re-sync at scale: ${k.repositories} repos × ${k.tags / k.repositories} = ${k.tags.toLocaleString('en-US')} tags (n=${n(sc.scaleNoop.imgsync)}/${n(sc.scaleNoop.skopeo)})`,
      sc.scaleNoop,
    )
    if (sc.scaleNoop.imgsyncFullCheck) row('… the same, imgsync `--full-check`', fullCheck(sc.scaleNoop))
  }
  if (sc.bigLayer) {
    const b = sc.bigLayer
    row(
      `One ${b.sizeBytes / MiB} MiB layer (n=${n(b.imgsync)})`,
      b,
      `${cell(b.curl)}, ${rss(b.curl)}; imgsync ${fmtRatio(b.ratioVsCurl)}`,
    )
  }
  if (sc.flat) row(`One ${sc.flat.sizeBytes / MiB} MiB layer, imgsync only (n=1)`, sc.flat)
  if (sc.startup) row(`\`--version\` (n=${n(sc.startup.imgsync)})`, sc.startup)
  return rows
}

export function markdown(res) {
  const table = [
    '| Scenario | imgsync | skopeo | imgsync / skopeo | raw curl | imgsync peak RSS | skopeo peak RSS | blob bytes to target: imgsync | skopeo |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...scenarioRows(res),
  ]
  const targets = [
    '| Target (issue 16) | Measured | Met |',
    '| --- | ---: | :---: |',
    ...res.targets.map((t) => `| ${t.label} | ${t.shown} | ${t.met ? 'yes' : '**no**'} |`),
  ]
  const parts = [table.join('\n'), targets.join('\n')]
  if (res.wan) parts.push(wanMarkdown(res.wan).trimEnd())
  if (res.fault) parts.push(faultMarkdown(res.fault).trimEnd())
  return `${parts.join('\n\n')}\n`
}

export function machineLine(res) {
  const m = res.machine
  const load = m.loadAvgEnd === undefined ? '' : `, load average ${m.loadAvgStart} → ${m.loadAvgEnd}`
  return `${m.nproc} cores (${m.cpu}), ${m.memoryGiB} GiB RAM, ${m.os}, Node ${m.node}, skopeo ${m.skopeo}, distribution ${m.distribution}, curl ${m.curl}${load}; ${res.date.slice(0, 10)}`
}

/** The corpus line of the README section. */
export function corpusLine(p) {
  return `Corpus: ${p.repos} repos × ${p.tags} tags × ${p.layers} layers of ${binarySize(p.layerSize)}, ${p.shared} of them a shared base, plus one multi-arch index and one Helm chart.`
}
