// `npm run demo` (scripts/demo.js) as a user runs it: every command it prints can be pasted into a
// shell and means what it ran, and it leaves no temporary directory behind, however it ends.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { REPO_ROOT, runNodeScript, startNodeScript } from '../harness/cli.js'

const DEMO = join(REPO_ROOT, 'scripts/demo.js')
const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

/** A TMPDIR of its own, so what the demo leaves behind is visible. */
function ownTmp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'imgsync-demo-test-'))
  dirs.push(dir)
  return dir
}

/** The words a POSIX shell makes of a command line. */
function shellWords(line: string): string[] {
  const out = execFileSync('/bin/sh', ['-c', `printf '%s\\0' ${line}`], { encoding: 'utf8' })
  return out.split('\0').slice(0, -1)
}

describe('npm run demo', () => {
  it('prints commands a shell reads back word for word, and removes its temporary directory', async () => {
    const tmp = ownTmp()
    const res = await runNodeScript(DEMO, [], { env: { TMPDIR: tmp }, timeoutMs: 120_000 })
    expect(res.code, res.stderr).toBe(0)
    expect(readdirSync(tmp)).toEqual([])

    const commands = res.stdout
      .split('\n')
      .filter((l) => l.startsWith('$ '))
      .map((l) => l.slice(2))
    expect(commands.length).toBeGreaterThanOrEqual(8)
    const words = commands.map(shellWords)
    for (const w of words.slice(1)) expect(w[0]).toBe('imgsync')
    const create = words.find((w) => w[1] === 'rule' && w[2] === 'create')!
    const value = (flag: string) => create[create.indexOf(flag) + 1]
    expect(value('--include')).toBe('^\\d+\\.\\d+\\.\\d+$')
    expect(value('--description')).toBe('release tags of team-a, mirrored')
    // the environment it runs them with comes first, also as a shell reads it
    expect(words[0]![0]).toBe('export')
    expect(words[0]!.slice(1).map((w) => w.split('=')[0])).toEqual(['IMGSYNC_CONFIG', 'IMGSYNC_RECORDS'])
    expect(res.stdout).toMatch(/removed at the end; --keep keeps it/)
  })

  it('a failure (no docker-registry on PATH) also cleans up', async () => {
    const tmp = ownTmp()
    const res = await runNodeScript(DEMO, [], { env: { TMPDIR: tmp, PATH: '/nonexistent' } })
    expect(res.code).toBe(2)
    expect(res.stderr).toMatch(/docker-registry is not installed: sh scripts\/system-deps.sh demo/)
    expect(readdirSync(tmp)).toEqual([])
  })

  it('Ctrl-C stops the registries and cleans up', async () => {
    const tmp = ownTmp()
    const demo = startNodeScript(DEMO, [], { env: { TMPDIR: tmp }, timeoutMs: 120_000 })
    await demo.waitForOutput('pushed ')
    demo.kill('SIGINT')
    const exit = await demo.exited
    expect(exit.code).toBe(130)
    expect(readdirSync(tmp)).toEqual([])
  })
})
