// Set-up and packaging as README "Quick start" and "Development" promise them: the commands work as
// root and as a user, the npm package ships what it needs and nothing that needs a dev dependency,
// the build is quiet, and nothing the README runs rewrites the lock file.
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { REPO_ROOT, type RunResult, startCommand } from '../harness/cli.js'

const work = mkdtempSync(join(tmpdir(), 'imgsync-packaging-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8')
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  license: string
  files: string[]
  scripts: Record<string, string>
}

function run(
  command: string,
  args: string[],
  opts: Parameters<typeof startCommand>[2] = {},
): Promise<RunResult> {
  return startCommand(command, args, { timeoutMs: 120_000, ...opts }).result
}

/** The shell commands of README "Quick start" (the sh block), one per line. */
function quickStartCommands(): string[] {
  const section = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('## Commands'))
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? ''
  return block.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'))
}

describe('README quick start', () => {
  it('needs no sudo and no npm install: system-deps.sh, then npm ci', () => {
    const lines = quickStartCommands()
    expect(lines).toEqual([
      'sh scripts/system-deps.sh demo && npm ci && npm run demo',
      'sh scripts/system-deps.sh test && npm ci && npm test',
    ])
    for (const line of lines) {
      expect(line).not.toMatch(/\bsudo\b/)
      expect(line).not.toMatch(/npm install/)
    }
  })

  /**
   * A PATH of stubs: `id` says who we are, `apt-get` (and `sudo`, when wanted) log how they were
   * called; `sh`'s own builtins do the rest. Nothing is installed for real.
   */
  function stubs(
    name: string,
    opts: { uid: number; sudo: boolean; present?: string[] },
  ): { dir: string; log: string } {
    const dir = join(work, name)
    const log = join(dir, 'calls.log')
    mkdirSync(dir)
    const write = (file: string, text: string) => {
      writeFileSync(join(dir, file), `#!/bin/sh\n${text}\n`)
      chmodSync(join(dir, file), 0o755)
    }
    write('id', `echo ${opts.uid}`)
    write('apt-get', `echo "apt-get $* (as uid $SUDO_UID_STUB)" >> ${log}`)
    // `env VAR=value command`: export each assignment, then run the command
    write('env', 'while case "$1" in *=*) true ;; *) false ;; esac; do export "$1"; shift; done; exec "$@"')
    if (opts.sudo) write('sudo', `echo "sudo $*" >> ${log}; SUDO_UID_STUB=0 exec "$@"`)
    for (const p of opts.present ?? []) write(p, 'exit 0')
    return { dir, log }
  }

  /** The first command of the README's demo line (`sh scripts/system-deps.sh demo`), run with stubs. */
  async function systemDeps(stub: { dir: string }, uid: number) {
    const first = quickStartCommands()[0]!.split(' && ')[0]!.split(' ')
    expect(first.slice(0, 2)).toEqual(['sh', 'scripts/system-deps.sh'])
    return run('/bin/sh', first.slice(1), {
      env: { PATH: stub.dir, SUDO_UID_STUB: String(uid) },
    })
  }

  /** The calls that step makes as `uid` (with sudo on the box or not), which must succeed. */
  async function succeedingCalls(name: string, uid: number, sudo: boolean): Promise<string[]> {
    const stub = stubs(name, { uid, sudo })
    const res = await systemDeps(stub, uid)
    expect(res.code, res.stderr).toBe(0)
    return readFileSync(stub.log, 'utf8').trim().split('\n')
  }

  it('as root (no sudo on the box): apt-get runs directly', async () => {
    expect(await succeedingCalls('root', 0, false)).toEqual([
      'apt-get update -qq (as uid 0)',
      'apt-get install -y -qq docker-registry (as uid 0)',
    ])
  })

  it('as a user: through sudo', async () => {
    expect(await succeedingCalls('user', 1000, true)).toEqual([
      'sudo apt-get update -qq',
      'apt-get update -qq (as uid 0)',
      'sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry',
      'apt-get install -y -qq docker-registry (as uid 0)',
    ])
  })

  it('as a user without sudo: says what is missing and how to proceed', async () => {
    const stub = stubs('nosudo', { uid: 1000, sudo: false })
    const res = await systemDeps(stub, 1000)
    expect(res.code).toBe(1)
    expect(res.stderr).toMatch(/missing: docker-registry; run this as root, or install sudo/)
    expect(existsSync(stub.log)).toBe(false)
  })

  it('installs nothing that is there already; the test set names every package the tests use', async () => {
    const stub = stubs('present', {
      uid: 1000,
      sudo: true,
      present: ['docker-registry', 'htpasswd', 'skopeo', 'openssl', 'tmux'],
    })
    const res = await run('/bin/sh', ['scripts/system-deps.sh', 'test'], {
      env: { PATH: stub.dir, SUDO_UID_STUB: '1000' },
    })
    expect(res.code, res.stderr).toBe(0)
    // /usr/bin/time is checked by its path: installed here, as the hostile test needs it
    expect(existsSync(stub.log)).toBe(false)
    const missing = stubs('missing', { uid: 0, sudo: false })
    const all = await run('/bin/sh', ['scripts/system-deps.sh', 'test'], {
      env: { PATH: missing.dir, SUDO_UID_STUB: '0' },
    })
    expect(all.code, all.stderr).toBe(0)
    expect(readFileSync(missing.log, 'utf8')).toContain(
      'apt-get install -y -qq docker-registry apache2-utils skopeo openssl',
    )
  })

  it('.ci/run installs through the same script', () => {
    expect(readFileSync(join(REPO_ROOT, '.ci/run'), 'utf8')).toContain('sh scripts/system-deps.sh test')
  })

  it('the lock file already says what package.json asks for: installing rewrites nothing', async (ctx) => {
    const dir = join(work, 'lock')
    mkdirSync(dir)
    for (const f of ['package.json', 'package-lock.json']) cpSync(join(REPO_ROOT, f), join(dir, f))
    const res = await run(
      'npm',
      ['install', '--package-lock-only', '--ignore-scripts', '--offline', '--no-audit', '--no-fund'],
      { cwd: dir, env: { npm_config_cache: join(process.env.HOME ?? '', '.npm') } },
    )
    if (res.code !== 0 && /ENOTCACHED/.test(res.stderr)) ctx.skip()
    expect(res.code, res.stderr).toBe(0)
    expect(readFileSync(join(dir, 'package-lock.json'), 'utf8')).toBe(
      readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8'),
    )
  })
})

describe('npm package', () => {
  it('ships bin/run.js, dist, the manifest, the schema, README and LICENSE; not bin/dev.js (needs tsx)', async () => {
    const res = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO_ROOT })
    expect(res.code, res.stderr).toBe(0)
    const files = (JSON.parse(res.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path)
    expect(files).not.toContain('bin/dev.js')
    for (const f of ['bin/run.js', 'LICENSE', 'README.md', 'package.json', 'schema/imgsync.schema.json'])
      expect(files).toContain(f)
    expect(files.filter((f) => /^(src|test|scripts|bench)\//.test(f))).toEqual([])
    // every file of the package is one the installed CLI may load: no dev dependency among them
    const devOnly = /\b(tsx|vitest|esbuild|typescript)\b/
    for (const f of files.filter((x) => x.startsWith('bin/')))
      expect(readFileSync(join(REPO_ROOT, f), 'utf8'), f).not.toMatch(devOnly)
  })

  it('LICENSE is the Apache License 2.0 that package.json names', () => {
    expect(pkg.license).toBe('Apache-2.0')
    const text = readFileSync(join(REPO_ROOT, 'LICENSE'), 'utf8')
    expect(text).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004/)
    expect(text).toContain('TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION')
    expect(text).toContain('END OF TERMS AND CONDITIONS')
  })
})

describe('npm run build', () => {
  it('prints no oclif "update available" warning, even when oclif knows of a newer version', async () => {
    // a copy of the checkout, so the build does not replace dist/ under the other tests
    const copy = join(work, 'checkout')
    mkdirSync(copy)
    for (const f of ['src', 'scripts', 'bin', 'schema', 'package.json', 'package-lock.json', 'tsconfig.json'])
      cpSync(join(REPO_ROOT, f), join(copy, f), { recursive: true })
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(copy, 'node_modules'))
    // oclif's cache says a newer oclif exists: the state in which it warns
    const cache = join(work, 'cache')
    mkdirSync(join(cache, 'oclif'), { recursive: true })
    writeFileSync(join(cache, 'oclif', 'version'), JSON.stringify({ latest: '999.0.0' }))
    const env = { XDG_CACHE_HOME: cache }

    // the check itself: oclif run plainly does warn in this state
    const plain = await run(process.execPath, [join(copy, 'node_modules/oclif/bin/run.js'), '--version'], {
      cwd: copy,
      env,
    })
    expect(plain.stdout + plain.stderr).toMatch(/update available/)

    const build = await run('npm', ['run', 'build'], { cwd: copy, env })
    expect(build.code, build.stderr).toBe(0)
    expect(build.stdout + build.stderr).not.toMatch(/update available/i)
    expect(existsSync(join(copy, 'oclif.manifest.json'))).toBe(true)
    expect(existsSync(join(copy, 'dist/commands/sync/tag.js'))).toBe(true)
    expect(pkg.scripts.build).toBe('node scripts/build.js')
  })
})
