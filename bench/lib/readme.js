// Writes the "## Benchmark" section of README.md from a results document.
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ROOT } from './options.js'
import { corpusLine, machineLine } from './report.js'

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
