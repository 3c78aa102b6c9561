#!/usr/bin/env node
// `imgsync --version` is answered before oclif loads, so scripts that probe for the CLI stay fast.
if (process.argv.length === 3 && process.argv[2] === '--version') {
  const { readFileSync } = await import('node:fs')
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
  process.stdout.write(
    `${pkg.name}/${pkg.version} ${process.platform}-${process.arch} node-${process.version}\n`,
  )
} else {
  // the bundled @oclif/core that the commands share (see scripts/build.js)
  const { execute } = await import('../dist/oclif.js')
  await execute({ dir: import.meta.url })
}
