#!/usr/bin/env node
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const readJson = (file) => JSON.parse(readFileSync(`${root}${file}`, 'utf8'))

if (process.argv.length === 3 && process.argv[2] === '--version') {
  // answered before oclif loads, so scripts that probe for the CLI stay fast
  const { name, version } = readJson('package.json')
  process.stdout.write(`${name}/${version} ${process.platform}-${process.arch} node-${process.version}\n`)
} else {
  // the bundled @oclif/core that the commands share (see scripts/build.js)
  const { execute } = await import('../dist/oclif.js')
  if (isOwnCommand(process.argv[2])) {
    // imgsync's own commands (and their --help) need neither plugin (`help`, `autocomplete`);
    // not loading them saves start-up time on every sync
    const pjson = readJson('package.json')
    pjson.oclif.plugins = []
    await execute({ loadOptions: { root, pjson } })
  } else {
    await execute({ dir: import.meta.url })
  }
}

/** Whether `word` starts one of the commands in dist's manifest (not a plugin's). */
function isOwnCommand(word) {
  if (!word || word.startsWith('-')) return false
  try {
    return Object.keys(readJson('oclif.manifest.json').commands).some((id) => id.split(':')[0] === word)
  } catch {
    return false
  }
}
