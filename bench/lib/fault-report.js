// The fault table: completion under injected failures, per tool. Not a speed comparison.
import { secs } from './format.js'

const tableText = (text) => String(text).replace(/\|/g, '\\|').replace(/\s+/g, ' ').trim()

function faultsText(side) {
  const f = side.faults
  return `${f[503]}/${f[429]}/${f.reset}`
}

/** The tool's own account: imgsync's item counts, or the end (the cause) of its last error line. */
function note(r) {
  if (r.items) {
    const why = Object.entries(r.reasons ?? {}).map(([reason, n]) => `${n} × ${reason}`)
    const count = `imgsync's count: ${r.items.synced} synced, ${r.items.skipped} skipped, ${r.items.failed} failed`
    return tableText([count, ...why].join('; '))
  }
  if (!r.error) return ''
  const lines = r.error.split('\n').filter(Boolean)
  const last = lines.findLast((l) => /level=(fatal|error)/.test(l)) ?? lines.at(-1) ?? ''
  const text = (/msg="(.*)"\s*$/.exec(last)?.[1] ?? last).replace(/\\"/g, '"')
  return tableText(text.length > 120 ? `…${text.slice(-119)}` : text)
}

export function faultMarkdown(fault) {
  const p = fault.params
  const c = fault.corpus
  const lines = [
    `Faults: ${Math.round(p.rate * 1000) / 10}% of the requests on each side answered 503, 429 (Retry-After: 1) or reset halfway through the response (seed \`${p.seed}\`); one run per tool on the sync corpus (${c.tags} tags). This measures completion, not speed.`,
    '',
    '| Tool under faults | items completed / total | exit code | wall time | outcome | requests: source + target | faults injected 503/429/reset: source; target | notes |',
    '| --- | ---: | ---: | ---: | --- | ---: | ---: | --- |',
  ]
  for (const r of Object.values(fault.tools)) {
    lines.push(
      `| ${r.tool} | ${r.completed} / ${r.total} | ${r.code} | ${secs(r.wallMs)} | ${r.outcome} | ${r.source.requests} + ${r.target.requests} | ${faultsText(r.source)}; ${faultsText(r.target)} | ${note(r)} |`,
    )
  }
  return `${lines.join('\n')}\n`
}
