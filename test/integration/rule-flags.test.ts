// `rule create` / `rule update` flags as a user types them: the words of `sync repo` (--include,
// --exclude, --latest, with the old names still working), '' removing any optional field, and a bad
// value blamed on the flag (INVALID_ARGUMENT, exit 2, the file untouched) instead of on the file.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunResult, runImgsync } from '../harness/cli.js'

let dir: string
let n = 0
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'imgsync-rule-flags-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

const BASE = [
  '--source-registry',
  '127.0.0.1:5000',
  '--source-namespace',
  'team-a',
  '--target-registry',
  '127.0.0.1:5001',
]

/** The arguments of `rule create r` from BASE, with these flags. */
const createR = (...flags: string[]) => ['rule', 'create', 'r', ...BASE, ...flags]

/** A fresh rule file path. */
const fresh = () => join(dir, `rules-${n++}.yaml`)

function cli(file: string, args: string[]): Promise<RunResult> {
  return runImgsync([...args, '--config', file])
}

async function show(file: string, name: string) {
  const res = await cli(file, ['rule', 'show', name, '--json'])
  expect(res.code, res.stderr).toBe(0)
  return JSON.parse(res.stdout).rule as {
    source: { tags?: Record<string, unknown>; repositories?: unknown; types: string[] }
    target: { namespace: string }
    trigger: Record<string, unknown>
    description?: string
  }
}

/** exit 2 and one INVALID_ARGUMENT line that names `flag`; the file byte for byte as before. */
async function refused(file: string, args: string[], flag: string | RegExp): Promise<string> {
  const before = await readFile(file, 'utf8').catch(() => undefined)
  const res = await cli(file, args)
  expect(res.code, res.stderr).toBe(2)
  const lines = res.stderr.trimEnd().split('\n')
  expect(lines, res.stderr).toHaveLength(1)
  expect(lines[0]).toMatch(/^imgsync: error INVALID_ARGUMENT: /)
  expect(lines[0]).not.toMatch(/CONFIG_INVALID|fix .*\.yaml/)
  if (typeof flag === 'string') expect(lines[0]).toContain(flag)
  else expect(lines[0]).toMatch(flag)
  expect(await readFile(file, 'utf8').catch(() => undefined)).toBe(before)
  return lines[0]!
}

describe('one vocabulary with sync repo', () => {
  it('rule create --include --exclude --latest write source.tags', async () => {
    const file = fresh()
    const res = await cli(file, createR('--include', '^v', '--exclude', '-rc', '--latest', '3'))
    expect(res.code, res.stderr).toBe(0)
    expect((await show(file, 'r')).source.tags).toEqual({ include: '^v', exclude: '-rc', latest: 3 })
  })

  it('--tags and --exclude-tags still work, as the old names of --include and --exclude', async () => {
    const file = fresh()
    await cli(file, createR('--tags', '^v', '--exclude-tags', '-rc'))
    expect((await show(file, 'r')).source.tags).toEqual({ include: '^v', exclude: '-rc' })
    expect((await cli(file, ['rule', 'update', 'r', '--exclude-tags', 'beta'])).code).toBe(0)
    expect((await show(file, 'r')).source.tags).toEqual({ include: '^v', exclude: 'beta' })
  })

  it('--help of rule create and update documents the words and the old names', async () => {
    for (const cmd of ['create', 'update']) {
      // the help wraps to the terminal: compare with white space collapsed
      const help = (await runImgsync(['rule', cmd, '--help'])).stdout.replace(/\s+/g, ' ')
      expect(help).toContain(
        '--include=RE Copy only tags matching this regex, as sync repo --include (alias: --tags).',
      )
      expect(help).toContain(
        '--exclude=RE Leave out tags matching this regex, as sync repo --exclude (alias: --exclude-tags).',
      )
      expect(help).toMatch(/--latest=N/)
    }
  })
})

describe("rule update: '' removes an optional field", () => {
  it('every optional field a flag sets', async () => {
    const file = fresh()
    const create = await cli(
      file,
      createR(
        '--repos',
        '^app',
        '--include',
        '^v',
        '--exclude',
        '-rc',
        '--latest',
        '5',
        '--semver',
        '>=1',
        '--types',
        'image',
        '--target-namespace',
        'mirror',
        '--description',
        'release images',
        '--trigger',
        'schedule',
        '--cron',
        '0 1 * * *',
        '--timezone',
        'Asia/Shanghai',
      ),
    )
    expect(create.code, create.stderr).toBe(0)
    const steps: [string, (r: Awaited<ReturnType<typeof show>>) => unknown, unknown][] = [
      ['--latest', (r) => r.source.tags, { include: '^v', exclude: '-rc', semver: '>=1' }],
      ['--timezone', (r) => r.trigger, { type: 'schedule', cron: '0 1 * * *' }],
      ['--semver', (r) => r.source.tags, { include: '^v', exclude: '-rc' }],
      ['--exclude', (r) => r.source.tags, { include: '^v' }],
      ['--include', (r) => r.source.tags, undefined],
      ['--repos', (r) => r.source.repositories, undefined],
      ['--types', (r) => r.source.types, ['image', 'helm', 'artifact']],
      ['--target-namespace', (r) => r.target.namespace, 'team-a'],
      ['--description', (r) => r.description, undefined],
      ['--trigger', (r) => r.trigger, { type: 'manual' }],
    ]
    for (const [flag, field, after] of steps) {
      const res = await cli(file, ['rule', 'update', 'r', flag, ''])
      expect(res.code, `${flag} '': ${res.stderr}`).toBe(0)
      expect(field(await show(file, 'r')), flag).toEqual(after)
    }
    const text = await readFile(file, 'utf8')
    expect(text).not.toMatch(
      /tags:|repositories:|types:|description:|trigger:|timezone|target: \{[^}]*namespace/,
    )
  })

  it('--repo-list removes the list; removing what is not there changes nothing', async () => {
    const file = fresh()
    await cli(file, createR('--repo-list', 'app,sub/tool'))
    expect((await show(file, 'r')).source.repositories).toEqual(['app', 'sub/tool'])
    expect((await cli(file, ['rule', 'update', 'r', '--repo-list', ''])).code).toBe(0)
    expect((await show(file, 'r')).source.repositories).toBeUndefined()
    const before = await readFile(file, 'utf8')
    const again = await cli(file, ['rule', 'update', 'r', '--timezone', '', '--latest', ''])
    expect(again.code, again.stderr).toBe(0)
    expect(again.stderr).toMatch(/already had those values/)
    expect(await readFile(file, 'utf8')).toBe(before)
  })
})

describe('a bad flag value is the flag’s fault, not the file’s', () => {
  it('rule create: --trigger schedule without --cron, an impossible --cron, an invalid name, a bad regex', async () => {
    const file = fresh()
    expect((await cli(file, ['rule', 'create', 'ok', ...BASE])).code).toBe(0)
    expect(await refused(file, createR('--trigger', 'schedule'), '--trigger schedule needs --cron')).toMatch(
      /e\.g\. --cron "0 1 \* \* \*"/,
    )
    expect(
      await refused(file, createR('--cron', '99 * * * *'), '--cron: invalid cron expression "99 * * * *"'),
    ).toMatch(/minute/)
    await refused(file, ['rule', 'create', 'Bad_Name', ...BASE], 'NAME "Bad_Name": invalid rule name')
    await refused(file, createR('--include', '('), '--include: invalid regular expression "("')
    await refused(file, createR('--types', 'image,oops'), '--types')
    await refused(
      file,
      ['rule', 'create', 'r', ...BASE.map((a) => (a === 'team-a' ? 'team-a/' : a))],
      '--source-namespace: invalid namespace',
    )
    await refused(file, createR('--latest', '0'), '--latest')
  })

  it('rule create into a file that does not exist yet leaves no file behind', async () => {
    const file = fresh()
    await refused(file, createR('--trigger', 'schedule'), '--trigger')
  })

  it('rule update: a bad time zone, --cron on a manual rule, --semver that is no range', async () => {
    const file = fresh()
    await cli(file, createR('--trigger', 'schedule', '--cron', '0 1 * * *'))
    await refused(
      file,
      ['rule', 'update', 'r', '--timezone', 'Mars/Olympus_Mons'],
      '--timezone: invalid time zone',
    )
    await refused(file, ['rule', 'update', 'r', '--semver', 'not a range'], '--semver: invalid semver range')
    await refused(
      file,
      ['rule', 'update', 'r', '--cron', ''],
      "--cron '' would leave the schedule without a time",
    )
    await cli(file, ['rule', 'update', 'r', '--trigger', 'manual'])
    await refused(
      file,
      ['rule', 'update', 'r', '--cron', '0 2 * * *', '--trigger', 'auto'],
      '--cron belongs to a schedule',
    )
  })

  it('a file that is wrong as it stands is still CONFIG_INVALID, naming the file', async () => {
    const file = fresh()
    await cli(file, createR())
    const text = await readFile(file, 'utf8')
    await writeFile(file, text.replace('namespace: team-a', 'namespace: team-a\n      frobnicate: 1'))
    const res = await cli(file, ['rule', 'update', 'r', '--description', 'x'])
    expect(res.code).toBe(2)
    expect(res.stderr).toMatch(/CONFIG_INVALID: .*rules-\d+\.yaml:\d+:\d+: rules\[0\]\.source.*frobnicate/)
  })
})

describe('an environment variable the rule file uses and that is not set', () => {
  it('names the variable and where the file uses it, and blames the environment, not the file', async () => {
    const file = fresh()
    await writeFile(
      file,
      [
        'version: 1',
        'registries:',
        `  hk: { host: 127.0.0.1:5000, credentials: { username: robot, password: "\${IMGSYNC_TEST_NOT_SET}" } }`,
        '  bj: { host: 127.0.0.1:5001 }',
        'rules:',
        '  - { name: r, source: { registry: hk, namespace: a }, target: { registry: bj } }',
        '',
      ].join('\n'),
    )
    const res = await cli(file, ['rule', 'trigger', 'r'])
    expect(res.code).toBe(2)
    const line = res.stderr.trim()
    expect(line).toContain('environment variable IMGSYNC_TEST_NOT_SET is not set')
    expect(line).toMatch(/rules-\d+\.yaml:3:\d+: registries\.hk\.credentials\.password: /)
    expect(line).toMatch(
      /set IMGSYNC_TEST_NOT_SET in the environment imgsync runs in \(export IMGSYNC_TEST_NOT_SET=…\); .*rules-\d+\.yaml itself is fine/,
    )
    expect(line).not.toMatch(/fix .*and run the command again/)
    // set, it runs (and fails only later, at the unreachable registries, if at all)
    const set = await runImgsync(['rule', 'trigger', 'r', '--config', file, '--dry-run'], {
      env: { IMGSYNC_TEST_NOT_SET: 'pw' },
    })
    expect(set.stderr).not.toMatch(/IMGSYNC_TEST_NOT_SET/)
  })
})
