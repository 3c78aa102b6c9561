#!/usr/bin/env node
// `npm run build`: bundles src/ with esbuild so that start-up reads a few files instead of
// hundreds of modules. Each command stays its own file under dist/commands (oclif finds them by
// path, through oclif.manifest.json); code they share, @oclif/core included, goes to dist/chunks,
// so a command loads only its own dependencies (prom-client and croner only for `serve`) and
// bin/run.js (through dist/oclif.js) and the commands share one copy of @oclif/core.
// Types are checked by `npm run typecheck` (tsc --noEmit), not here. Then `oclif manifest` writes
// oclif.manifest.json, without oclif's update check: it would print an "update available" warning
// into every build and ask the npm registry in the background.
import { spawnSync } from 'node:child_process'
import { readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = fileURLToPath(new URL('..', import.meta.url))
rmSync(join(root, 'dist'), { recursive: true, force: true })
const commands = readdirSync(join(root, 'src/commands'), { recursive: true })
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .map((f) => join('src/commands', f))

await build({
  absWorkingDir: root,
  entryPoints: ['src/oclif.ts', 'src/cli/help.ts', ...commands],
  outbase: 'src',
  outdir: 'dist',
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // not minified: it saved no measurable start-up time (V8 compiles functions lazily), and stack
  // traces (IMGSYNC_DEBUG=1) keep their function names and line numbers
  minify: false,
  // @oclif/core requires typescript only when it runs TypeScript sources (bin/dev.js), a dev
  // dependency that is absent in production installs
  external: ['typescript'],
  // bundled CommonJS calls require() (node builtins, typescript) and reads __filename (write-file-atomic
  // hashes it into temporary file names), which ES modules do not have
  banner: {
    js: [
      "import{createRequire as __imgsyncCreateRequire}from'node:module';",
      'const require=__imgsyncCreateRequire(import.meta.url),__filename=import.meta.filename,__dirname=import.meta.dirname;',
    ].join(''),
  },
  logLevel: 'warning',
})

const manifest = spawnSync(
  process.execPath,
  [join(root, 'node_modules', 'oclif', 'bin', 'run.js'), 'manifest'],
  {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, OCLIF_SKIP_NEW_VERSION_CHECK: 'true' },
  },
)
if (manifest.status !== 0) process.exit(manifest.status ?? 1)
