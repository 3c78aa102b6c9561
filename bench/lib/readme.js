// Writes the "## Benchmark" section of README.md from a results document.
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ROOT } from './options.js'
import { corpusLine, machineLine } from './report.js'

/** Breaks a paragraph into lines of at most `width` characters. */
function wrap(text, width = 100) {
  const lines = []
  let line = ''
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else line = line ? `${line} ${word}` : word
  }
  if (line) lines.push(line)
  return lines
}

const WAN_TEXT = wrap(
  'WAN rows: a cross-region link. Both registries sit behind a loopback proxy that holds every request ' +
    '`--wan-delay` ms (25 by default) before passing it on, can cap the bandwidth each way ' +
    '(`--wan-bandwidth`), and counts requests by kind at each side; imgsync and skopeo go through the ' +
    'same proxies, on a corpus of `--wan-repos` × `--wan-tags` (30 × 5 by default) images. The ' +
    '**round-trip floor** is the least time the requests that must happen allow in the lanes imgsync ' +
    'gives each registry at `--concurrency` N (8 by default): N blob transfers and 4 × N other requests ' +
    'in flight. Per registry, ceil(required blob GETs or upload PUTs / N) and ceil(other required ' +
    'requests / 4N) round trips; the floor is the most of these × delay. A cold sync requires, ' +
    'at the source, one tag list per repository, one manifest GET per manifest (tags and the children of ' +
    'an index) and one blob GET per unique blob, and at the target one upload (its closing PUT) per unique ' +
    'blob and one manifest PUT per manifest; a no-op requires one tag list per repository on each side ' +
    'and one manifest HEAD per tag at the source; the large layer, the cold sync of one manifest and two ' +
    'blobs. With a bandwidth cap the floor is at least the unique blob bytes / bandwidth. The floor leaves ' +
    'out start-up, the order requests must come in, throughput, and connection set-up (free on these ' +
    'links: no TLS, no handshake delay; the table counts new connections), so no tool reaches it: ' +
    'time / floor tells how much of the link’s latency a tool fails to hide.',
)

const FAULT_TEXT = wrap(
  'Fault rows: registries as they really behave. Each tool copies the sync corpus once through proxies ' +
    'that answer `--fault-rate` (15% by default) of the requests on both sides with a 503, a 429 with ' +
    'Retry-After: 1, or a connection reset halfway through the response, drawn from a PRNG seeded with ' +
    '`--fault-seed` (each tool gets the same sequence). Items completed are the tags whose digest the ' +
    'target serves afterwards. This measures completion, not speed; neither tool is told to retry more ' +
    'than it does by default.',
)

export function readmeSection(res, md) {
  return [
    '## Benchmark',
    '',
    '`npm run bench` starts fresh loopback registries (CNCF distribution), pushes a generated corpus,',
    'and times imgsync against `skopeo sync --all --preserve-digests` side by side: every cold run',
    'gets an empty target registry; wall times are medians of n runs; peak RSS from GNU time; blob',
    'bytes are what the target received (a counting proxy in front of it), against the unique blob',
    'bytes of the corpus. `node bench/run.js --help` lists the parameters; bench/results.json has',
    'every run.',
    '',
    `Latest run: ${machineLine(res)}.`,
    corpusLine(res.params),
    'A high load average means other work shared the CPUs: compare the ratios, which come from runs',
    'interleaved under the same conditions, more than the absolute times.',
    'No-op rows: imgsync runs as users run it, trusting target tags it pushed or checked within 24 h',
    'that are still listed (one tag list per repository, see How a copy works); the `--full-check` rows',
    'ask the target for every tag, against the same skopeo runs.',
    '',
    ...WAN_TEXT,
    '',
    ...FAULT_TEXT,
    ...(res.wan || res.fault
      ? []
      : ['', 'The latest full run predates the WAN and fault scenarios: the next one adds their tables.']),
    '',
    md.trimEnd(),
    '',
  ].join('\n')
}

/** Replaces the section (up to the next "## " heading), or appends it when there is none. */
export async function updateReadme(res, md, file = join(ROOT, 'README.md')) {
  const text = await readFile(file, 'utf8')
  const section = readmeSection(res, md)
  const start = text.search(/^## Benchmark\s*$/m)
  let next
  if (start === -1) next = `${text.trimEnd()}\n\n${section}`
  else {
    const rest = text.slice(start + 1)
    const end = rest.search(/^## /m)
    next = text.slice(0, start) + section + (end === -1 ? '' : `\n${rest.slice(end)}`)
  }
  await writeFile(file, next.endsWith('\n') ? next : `${next}\n`)
}
