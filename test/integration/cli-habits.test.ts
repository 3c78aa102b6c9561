// The habits of docker, skopeo and crane users, through the commands they type: -h, `imgsync
// version`, a mistyped command or flag answered with what was meant (in the one coded error format),
// and docker:// references.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runImgsync } from '../harness/cli.js'
import { listTags, pushImage } from '../harness/fixtures.js'
import { type RunningRegistry, startRegistry } from '../harness/registry.js'

/** stderr is exactly one `imgsync: error CODE: …` line, stdout empty, exit 2. */
function oneErrorLine(
  res: { code: number; stdout: string; stderr: string },
  code = 'INVALID_ARGUMENT',
): string {
  expect(res.code, res.stderr).toBe(2)
  expect(res.stdout).toBe('')
  const lines = res.stderr.trimEnd().split('\n')
  expect(lines, res.stderr).toHaveLength(1)
  expect(lines[0]).toMatch(new RegExp(`^imgsync: error ${code}: `))
  return lines[0]!
}

describe('help and version', () => {
  it('-h is --help, for the CLI and for a command', async () => {
    for (const args of [[], ['sync', 'tag'], ['rule', 'create']]) {
      const [short, long] = await Promise.all([runImgsync([...args, '-h']), runImgsync([...args, '--help'])])
      expect(short.code, short.stderr).toBe(0)
      expect(short.stdout).toBe(long.stdout)
      expect(short.stdout).toMatch(/USAGE/)
    }
  })

  it('imgsync version prints what --version prints', async () => {
    const [word, flag] = await Promise.all([runImgsync(['version']), runImgsync(['--version'])])
    expect(word.code).toBe(0)
    expect(word.stdout).toBe(flag.stdout)
    expect(word.stdout).toMatch(/^imgsync\/\d+\.\d+\.\d+ \S+ node-v\d+/)
  })
})

describe('did you mean', () => {
  it('a mistyped command: synk → sync', async () => {
    const line = oneErrorLine(await runImgsync(['synk', 'tag', 'a', 'b']))
    expect(line).toBe(
      'imgsync: error INVALID_ARGUMENT: unknown command "synk" (did you mean "imgsync sync"?; imgsync --help lists the commands)',
    )
  })

  it('a mistyped subcommand: sync tg → sync tag, rule creat → rule create', async () => {
    expect(oneErrorLine(await runImgsync(['sync', 'tg', 'a', 'b']))).toMatch(
      /unknown command "sync tg" \(did you mean "imgsync sync tag"\?; imgsync sync has: repo, tag/,
    )
    expect(oneErrorLine(await runImgsync(['rule', 'creat', 'x']))).toMatch(
      /did you mean "imgsync rule create"\?/,
    )
  })

  it('a mistyped flag: --dryrun → --dry-run, --sumary → --summary', async () => {
    const line = oneErrorLine(await runImgsync(['sync', 'tag', 'a.example/x:1', 'b.example/x', '--dryrun']))
    expect(line).toBe(
      'imgsync: error INVALID_ARGUMENT: unknown flag --dryrun (did you mean --dry-run?; see --help)',
    )
    expect(oneErrorLine(await runImgsync(['records', '--sumary']))).toMatch(/did you mean --summary\?/)
  })

  it('with --json the same error is the JSON error document on stdout', async () => {
    const res = await runImgsync(['synk', '--json'])
    expect(res.code).toBe(2)
    expect(JSON.parse(res.stdout)).toEqual({
      error: {
        code: 'INVALID_ARGUMENT',
        message: 'unknown command "synk"',
        suggestions: ['did you mean "imgsync sync"?', 'imgsync --help lists the commands'],
      },
    })
  })
})

describe('docker:// references', () => {
  let src: RunningRegistry
  let dst: RunningRegistry
  beforeAll(async () => {
    ;[src, dst] = await Promise.all([startRegistry(), startRegistry()])
    await pushImage(src.url, 'team/app', '1.0')
  })
  afterAll(async () => {
    await Promise.all([src?.stop(), dst?.stop()])
  })

  it('sync tag and sync repo take docker://host/repo as skopeo does', async () => {
    const tag = await runImgsync([
      'sync',
      'tag',
      `docker://${src.host}/team/app:1.0`,
      `docker://${dst.host}/mirror/app`,
      '--json',
    ])
    expect(tag.code, tag.stderr).toBe(0)
    const item = (JSON.parse(tag.stdout) as { items: { status: string; source: string }[] }).items[0]!
    expect(item).toMatchObject({ status: 'synced', source: `${src.host}/team/app:1.0` })
    const repo = await runImgsync([
      'sync',
      'repo',
      `docker://${src.host}/team/app`,
      `docker://${dst.host}/again/app`,
    ])
    expect(repo.code, repo.stderr).toBe(0)
    expect(await listTags(dst.url, 'again/app')).toEqual(['1.0'])
  })

  it('other schemes are still refused, naming the one that works', async () => {
    const line = oneErrorLine(
      await runImgsync(['sync', 'tag', `https://${src.host}/team/app:1.0`, `${dst.host}/x`]),
      'INVALID_REFERENCE',
    )
    expect(line).toMatch(/leave out the scheme.*docker:\/\/ is the only one accepted/)
  })
})
