// What imgsync says, in words, through the commands a user types: an empty selection names the
// filter and how many tags there were, a bare repository says it copies `latest`, and tags left out
// say why in a phrase (with the machine-readable reason kept in --json).
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runImgsync } from '../harness/cli.js'
import { pushImage } from '../harness/fixtures.js'
import { type RunningRegistry, startRegistry } from '../harness/registry.js'
import { writeRuleFile } from '../harness/rule-file.js'

let src: RunningRegistry
let dst: RunningRegistry
let dir: string
const TAGS = ['1.0.0', '1.1.0', '1.2.0-rc1', '2.0.0', 'latest']

beforeAll(async () => {
  ;[src, dst] = await Promise.all([startRegistry(), startRegistry()])
  dir = await mkdtemp(join(tmpdir(), 'imgsync-words-'))
  for (const tag of TAGS) await pushImage(src.url, 'team/app', tag)
})
afterAll(async () => {
  await Promise.all([src?.stop(), dst?.stop()])
  if (dir) await rm(dir, { recursive: true, force: true })
})

const cli = (args: string[]) => runImgsync([...args, '--records', join(dir, 'records.jsonl')])
const lastLine = (text: string) => text.trimEnd().split('\n').at(-1)!
/** `sync repo` of the source's team/app to `target` on dst, with the filter flags given. */
const syncApp = (target: string, ...filters: string[]) =>
  cli(['sync', 'repo', `${src.host}/team/app`, `${dst.host}/${target}`, ...filters])

describe('an empty selection', () => {
  it('says no tag matched, with the filter and how many tags the repository has (exit 3)', async () => {
    const res = await syncApp('team/app', '--include', '^v9')
    expect(res.code, res.stderr).toBe(3)
    expect(lastLine(res.stderr)).toMatch(
      new RegExp(
        `^nothing matched: ${src.host}/team/app has 5 tags, and none passes the filters \\(does not match --include '\\^v9': 5\\)  task t-`,
      ),
    )
    expect(res.stderr).not.toMatch(/succeeded: 0 synced/)
  })

  it('several filters: each with its count', async () => {
    const res = await syncApp('team/app', '--include', '^1\\.', '--exclude', '\\.')
    expect(res.code).toBe(3)
    expect(lastLine(res.stderr)).toContain(
      "(does not match --include '^1\\.': 2; excluded by --exclude '\\.': 3)",
    )
  })

  it('a rule says it in the words of the rule file', async () => {
    const config = await writeRuleFile(join(dir, 'imgsync.yaml'), { s: src.host, d: dst.host }, [
      {
        name: 'none',
        source: { registry: 's', namespace: 'team', repositories: ['app'], tags: { include: '^v9' } },
        target: { registry: 'd', namespace: 'mirror' },
      },
    ])
    const res = await cli(['rule', 'trigger', 'none', '--config', config])
    expect(res.code, res.stderr).toBe(3)
    expect(res.stderr).toContain(
      "nothing matched: s/team has 5 tags, and none passes the filters (does not match tags.include '^v9': 5)",
    )
  })
})

describe('why a tag was left out', () => {
  it('dry run and -v show phrases; --json keeps the short reason and adds the phrase', async () => {
    const filters = ['--exclude', '-rc', '--latest', '2']
    const dry = await syncApp('why/app', ...filters, '--dry-run')
    expect(dry.code, dry.stderr).toBe(0)
    expect(dry.stderr).toMatch(
      new RegExp(`excluded ${src.host}/team/app:1\\.2\\.0-rc1  excluded by --exclude '-rc'`),
    )
    expect(dry.stderr).toMatch(
      new RegExp(`excluded ${src.host}/team/app:1\\.0\\.0  older than the newest 2 \\(--latest 2\\)`),
    )
    expect(dry.stderr).not.toMatch(/ {2}(exclude|latest|include)$/m)
    const json = JSON.parse((await syncApp('why/app', ...filters, '--dry-run', '--json')).stdout) as {
      excluded: { tag: string; reason: string; detail: string }[]
    }
    expect(json.excluded.find((e) => e.tag === '1.2.0-rc1')).toMatchObject({
      reason: 'exclude',
      detail: "excluded by --exclude '-rc'",
    })
    expect(json.excluded.find((e) => e.tag === '1.0.0')).toMatchObject({
      reason: 'latest',
      detail: 'older than the newest 2 (--latest 2)',
    })
  })
})

describe('sync tag of a bare repository', () => {
  it('says it copies latest, as docker pull does', async () => {
    const res = await cli(['sync', 'tag', `${src.host}/team/app`, `${dst.host}/bare/app`])
    expect(res.code, res.stderr).toBe(0)
    expect(res.stderr).toContain(`no tag given: copying ${src.host}/team/app:latest`)
    const tagged = await cli(['sync', 'tag', `${src.host}/team/app:1.0.0`, `${dst.host}/bare/app`])
    expect(tagged.stderr).not.toMatch(/no tag given/)
    const json = await cli(['sync', 'tag', `${src.host}/team/app`, `${dst.host}/bare/app`, '--json'])
    expect(json.stderr).not.toMatch(/no tag given/)
    expect(JSON.parse(json.stdout).items[0].tag).toBe('latest')
  })
})
