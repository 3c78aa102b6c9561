#!/usr/bin/env node
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { setFlagsFromString } from 'node:v8'

const root = fileURLToPath(new URL('..', import.meta.url))
const readJson = (file) => JSON.parse(readFileSync(`${root}${file}`, 'utf8'))
const argv = process.argv.slice(2)

if (argv.length === 1 && (argv[0] === '--version' || argv[0] === 'version')) {
  // answered before oclif loads, so scripts that probe for the CLI stay fast
  const { name, version } = readJson('package.json')
  process.stdout.write(`${name}/${version} ${process.platform}-${process.arch} node-${process.version}\n`)
} else {
  // undici parses HTTP with llhttp, compiled to WebAssembly; V8 then optimizes it again in the
  // background, and Node waits for that compile before it exits: ~60 ms of every short run here
  // (a no-op `sync tag` 0.26 s -> 0.20 s), for a parser that reads a few hundred bytes of headers
  // per response. Its baseline code is enough; a 1,500-tag no-op took less CPU with it, not more.
  // V8 11-13 (Node 20-24) know the flag; an unknown one would print an error, so no later V8 is assumed.
  if (Number(process.versions.v8.split('.')[0]) <= 13) setFlagsFromString('--liftoff-only')
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
