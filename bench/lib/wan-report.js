// The WAN tables: times against skopeo and against the round-trip floor, and requests by kind.
import { fmtRatio, MiB, mb, secs } from './format.js'
import { KINDS } from './kinds.js'

const cell = (s) => (s ? (s.ok ? secs(s.wallMs) : 'FAILED') : '–')
const n = (s) => s?.runs ?? 0
const total = (s) =>
  s?.requests
    ? `${s.requests.source.all.toLocaleString('en-US')} + ${s.requests.target.all.toLocaleString('en-US')}`
    : '–'

/** [label, scenario with imgsync/skopeo/ratio] for every row of the WAN tables. */
function wanRows(wan) {
  const sc = wan.scenarios
  const c = wan.corpus
  const rows = []
  const fullCheck = (s) => ({ ...s, imgsync: s.imgsyncFullCheck, ratio: s.ratioFullCheck })
  const runs = (s) => `n=${n(s.imgsync)}/${n(s.skopeo)}`
  if (sc.cold)
    rows.push([
      `Cold sync: ${c.repositories} repos, ${c.tags} tags, ${mb(c.uniqueBlobBytes)} unique blobs (${runs(sc.cold)})`,
      sc.cold,
    ])
  if (sc.noop) rows.push([`No-op re-sync, same corpus (${runs(sc.noop)})`, sc.noop])
  if (sc.noop?.imgsyncFullCheck) rows.push(['… the same, imgsync `--full-check`', fullCheck(sc.noop)])
  if (sc.scaleNoop) {
    const k = sc.scaleNoop.corpus
    rows.push([
      `No-op at scale: ${k.tags.toLocaleString('en-US')} tags (${runs(sc.scaleNoop)})`,
      sc.scaleNoop,
    ])
    if (sc.scaleNoop.imgsyncFullCheck)
      rows.push(['… the same, imgsync `--full-check`', fullCheck(sc.scaleNoop)])
  }
  if (sc.bigLayer)
    rows.push([`One ${sc.bigLayer.sizeBytes / MiB} MiB layer (${runs(sc.bigLayer)})`, sc.bigLayer])
  return rows
}

function floorCell(f) {
  const rt = `${f.requests.toLocaleString('en-US')} req. → ${f.roundTrips.toLocaleString('en-US')} round trip${f.roundTrips === 1 ? '' : 's'}`
  return f.transferMs > f.roundTripMs
    ? `${secs(f.floorMs)} (bytes / bandwidth; ${rt})`
    : `${secs(f.floorMs)} (${rt})`
}

/** Requests by kind: per scenario and side, the floor's required requests, then each tool's. */
function kindRows(wan) {
  const rows = []
  for (const [label, s] of wanRows(wan)) {
    const short = label.replace(/ \(n=.*$/, '').replace(/:.*$/, '')
    // a `--full-check` row has the same floor and skopeo runs as the row above it
    const fullCheck = label.startsWith('…')
    for (const side of ['source', 'target']) {
      const req = s.floor.required[side]
      const all = Object.values(req).reduce((a, b) => a + b, 0)
      if (!fullCheck) rows.push({ label: short, tool: 'required (floor)', side, all, counts: req })
      for (const tool of fullCheck ? ['imgsync'] : ['imgsync', 'skopeo']) {
        const r = s[tool]?.requests?.[side]
        if (r) rows.push({ label: short, tool, side, all: r.all, counts: r })
      }
    }
  }
  return rows
}

const num = (x) => (Number.isFinite(x) ? String(Math.round(x)) : '–')

function kindTable(wan) {
  const rows = kindRows(wan)
  const used = KINDS.filter((k) => rows.some((r) => (r.counts[k] ?? 0) > 0))
  const unused = KINDS.filter((k) => !used.includes(k))
  const lines = [
    `| Requests by kind | tool | side | all | ${used.join(' | ')} | new connections |`,
    `| --- | --- | --- | ---: |${used.map(() => ' ---: |').join('')} ---: |`,
    ...rows.map(
      (r) =>
        `| ${r.label} | ${r.tool} | ${r.side} | ${num(r.all)} | ${used.map((k) => num(r.counts[k] ?? 0)).join(' | ')} | ${num(r.counts.connections)} |`,
    ),
  ]
  if (unused.length > 0) lines.push('', `No requests of these kinds in any run: ${unused.join(', ')}.`)
  return lines
}

export function wanMarkdown(wan) {
  const p = wan.params
  const bw = p.bandwidth > 0 ? `, ${mb(p.bandwidth)}/s each way per link` : ''
  // results written before the lanes: one concurrency for every request
  const lanes = p.lanes ?? { requests: p.concurrency, blobs: p.concurrency }
  const lines = [
    `WAN: every request to either registry held ${p.delayMs} ms at its proxy${bw}; imgsync \`--concurrency ${p.concurrency}\`.`,
    `Round-trip floor = the most, over each registry, of ceil(required blob transfers / ${lanes.blobs}) and ceil(other required requests / ${lanes.requests}), × ${p.delayMs} ms (imgsync's lanes at \`--concurrency ${p.concurrency}\`)${p.bandwidth > 0 ? ', and at least the unique blob bytes / bandwidth' : ''}.`,
    '',
    '| WAN scenario | imgsync | skopeo | imgsync / skopeo | round-trip floor | imgsync / floor | skopeo / floor | requests imgsync: source + target | skopeo: source + target |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...wanRows(wan).map(
      ([label, s]) =>
        `| ${label} | ${cell(s.imgsync)} | ${cell(s.skopeo)} | ${fmtRatio(s.ratio)} | ${floorCell(s.floor)} | ${fmtRatio(s.imgsync?.vsFloor)} | ${fmtRatio(s.skopeo?.vsFloor)} | ${total(s.imgsync)} | ${total(s.skopeo)} |`,
    ),
    '',
    ...kindTable(wan),
  ]
  return `${lines.join('\n')}\n`
}
