#!/usr/bin/env node
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const readJson = (file) => JSON.parse(readFileSync(`${root}${file}`, 'utf8'))
const argv = process.argv.slice(2)

if (argv.length === 1 && (argv[0] === '--version' || argv[0] === 'version')) {
  // answered before oclif loads, so scripts that probe for the CLI stay fast
  const { name, version } = readJson('package.json')
  process.stdout.write(`${name}/${version} ${process.platform}-${process.arch} node-${process.version}\n`)
} else {
  // the bundled @oclif/core that the commands share (see scripts/build.js), behind src/cli/main.ts
  const { main } = await import('../dist/oclif.js')
  if (isOwnCommand(argv[0])) {
    // imgsync's own commands (and their --help) need neither plugin (`help`, `autocomplete`);
    // not loading them saves start-up time on every sync
    const pjson = readJson('package.json')
    pjson.oclif.plugins = []
    await main(argv, { root, pjson })
  } else {
    await main(argv, root)
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
