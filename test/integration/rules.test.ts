// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the rule file syntax is literally ${VAR}
// Rules and records through the CLI, against real distribution registries on loopback.
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runImgsync } from '../harness/cli.js'
import { startFaultProxy } from '../harness/fault-proxy.js'
import { getManifest, listTags, pushChart, pushImage } from '../harness/fixtures.js'
import { type RunningRegistry, startRegistry } from '../harness/registry.js'
import { ruleCreateArgs, ruleReadCommands } from '../harness/rule-file.js'

let src: RunningRegistry
let dir: string
const pushed = new Map<string, string>()

async function catalog(reg: RunningRegistry): Promise<string[]> {
  const res = await fetch(`${reg.url}/v2/_catalog?n=1000`)
  return ((await res.json()) as { repositories: string[] }).repositories.sort()
}

/** repo:tag → digest of everything in a registry, to compare with what a rule should have copied. */
async function contents(reg: RunningRegistry): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const repo of await catalog(reg)) {
    for (const tag of await listTags(reg.url, repo))
      out[`${repo}:${tag}`] = (await getManifest(reg.url, repo, tag)).digest
  }
  return out
}

function cli(args: string[], env: Record<string, string> = {}) {
  return runImgsync(args, {
    env: { IMGSYNC_RECORDS: join(dir, 'records.jsonl'), IMGSYNC_LOCK_DIR: join(dir, 'locks'), ...env },
  })
}

/** rule create NAME in `file`, from `source` (a host or a registry entry) and its `namespace`, then `flags`. */
const createRule = (...args: Parameters<typeof ruleCreateArgs>) => cli(ruleCreateArgs(...args))

beforeAll(async () => {
  src = await startRegistry()
  dir = await mkdtemp(join(tmpdir(), 'imgsync-rules-'))
  const images: [string, string][] = [
    ['team-a/app', '1.0.0'],
    ['team-a/app', '1.1.0'],
    ['team-a/app', '1.2.0'],
    ['team-a/app', '2.0.0-rc1'],
    ['team-a/app', 'latest'],
    ['team-a/sub/tool', 'v1.0.0'],
    ['team-a/sub/tool', 'v1.1.0'],
    ['team-a/sub/deep/svc', '3.0.0'],
    ['team-b/other', '1.0.0'],
    ['team-ab/trap', '1.0.0'],
  ]
  for (const [repo, tag] of images) pushed.set(`${repo}:${tag}`, await pushImage(src.url, repo, tag))
  for (const v of ['0.1.0', '0.2.0'])
    pushed.set(`team-a/charts/web:${v}`, await pushChart(src.url, 'team-a/charts/web', v))
})

afterAll(async () => src?.stop())

describe('rules created with rule create, then triggered', () => {
  let dst: RunningRegistry
  let config: string
  beforeAll(async () => {
    dst = await startRegistry()
    config = join(dir, 'select.yaml')
  })
  afterAll(async () => dst?.stop())

  it('copies exactly what the filters select, with identical digests', async () => {
    const images = await createRule(
      'images',
      config,
      src.host,
      'team-a',
      '--repos',
      '^(app|sub/.*)$',
      '--tags',
      '^v?\\d+\\.\\d+\\.\\d+$',
      '--exclude-tags',
      '^1\\.0',
      '--latest',
      '2',
      '--types',
      'image',
      '--target-registry',
      dst.host,
      '--target-namespace',
      'mirror/a',
    )
    expect(images.code, images.stderr).toBe(0)
    const charts = await createRule(
      'charts',
      config,
      src.host,
      'team-a',
      '--types',
      'helm',
      '--target-registry',
      dst.host,
      '--target-namespace',
      'helm',
    )
    expect(charts.code, charts.stderr).toBe(0)

    const dry = await cli(['rule', 'trigger', 'images', '-c', config, '--dry-run', '--json'])
    expect(dry.code, dry.stderr).toBe(0)
    const plan = JSON.parse(dry.stdout).tasks[0]
    expect(plan.items.map((i: { status: string }) => i.status)).toEqual(Array(5).fill('planned'))
    const reasons = Object.fromEntries(
      plan.excluded.map((e: { tag: string; reason: string }) => [e.tag, e.reason]),
    )
    expect(reasons).toMatchObject({ '2.0.0-rc1': 'include', latest: 'include', '1.0.0': 'exclude' })
    expect(await catalog(dst)).toEqual([])

    const run = await cli(['rule', 'trigger', 'images', 'charts', '-c', config, '--json'])
    expect(run.code, run.stderr).toBe(0)
    const out = JSON.parse(run.stdout)
    expect(out.tasks.map((t: { rule: string }) => t.rule)).toEqual(['images', 'charts'])

    const expected: Record<string, string> = {
      'mirror/a/app:1.1.0': pushed.get('team-a/app:1.1.0')!,
      'mirror/a/app:1.2.0': pushed.get('team-a/app:1.2.0')!,
      'mirror/a/sub/deep/svc:3.0.0': pushed.get('team-a/sub/deep/svc:3.0.0')!,
      'mirror/a/sub/tool:v1.0.0': pushed.get('team-a/sub/tool:v1.0.0')!,
      'mirror/a/sub/tool:v1.1.0': pushed.get('team-a/sub/tool:v1.1.0')!,
      'helm/charts/web:0.1.0': pushed.get('team-a/charts/web:0.1.0')!,
      'helm/charts/web:0.2.0': pushed.get('team-a/charts/web:0.2.0')!,
    }
    expect(await contents(dst)).toEqual(expected)

    const again = await cli(['rule', 'trigger', '--all', '-c', config, '--json'])
    expect(again.code).toBe(0)
    for (const t of JSON.parse(again.stdout).tasks) {
      expect(
        t.items.every((i: { status: string }) => i.status === 'skipped' || i.status === 'excluded'),
      ).toBe(true)
    }
  })

  it('latest N keeps the highest versions', async () => {
    const target = await startRegistry()
    try {
      const file = join(dir, 'latest.yaml')
      const create = await createRule(
        'newest',
        file,
        src.host,
        'team-a',
        '--repo-list',
        'app',
        '--latest',
        '2',
        '--target-registry',
        target.host,
      )
      expect(create.code, create.stderr).toBe(0)
      const run = await cli(['rule', 'trigger', 'newest', '-c', file])
      expect(run.code, run.stderr).toBe(0)
      expect(Object.keys(await contents(target)).sort()).toEqual(['team-a/app:1.2.0', 'team-a/app:2.0.0-rc1'])
    } finally {
      await target.stop()
    }
  })
})

describe('rule edits', () => {
  const secret = 'hunter2-do-not-print'
  let file: string
  const original = `# team rule file — keep this comment
version: 1
registries:
  src: { host: 127.0.0.1:1 }
  dst:
    host: 127.0.0.1:2
    credentials: { username: robot, password: "\${ROBOT_PW}" }   # from CI secrets
rules:
  # the production mirror
  - name: prod
    source: { registry: src, namespace: team-a }
    target: { registry: dst }
  - name: other
    description: untouched by edits of prod
    source: { registry: src, namespace: team-b }
    target: { registry: dst }
`
  const otherBlock = `  - name: other
    description: untouched by edits of prod
    source: { registry: src, namespace: team-b }
    target: { registry: dst }
`

  beforeAll(async () => {
    file = join(dir, 'edit.yaml')
    await writeFile(file, original)
  })

  it('update, disable, enable and delete change only what they say and keep comments', async () => {
    const env = { ROBOT_PW: secret }
    expect(
      (await cli(['rule', 'update', 'prod', '-c', file, '--exclude-tags', '-rc', '--override'], env)).code,
    ).toBe(0)
    let text = await readFile(file, 'utf8')
    expect(text).toContain('# team rule file — keep this comment')
    expect(text).toContain('# the production mirror')
    expect(text).toContain('# from CI secrets')
    expect(text).toContain('${ROBOT_PW}')
    expect(text).toContain(otherBlock)
    const show = JSON.parse((await cli(['rule', 'show', 'prod', '-c', file, '--json'], env)).stdout)
    expect(show.rule.source.tags).toEqual({ exclude: '-rc' })
    expect(show.rule.override).toBe(true)

    expect((await cli(['rule', 'disable', 'prod', '-c', file])).code).toBe(0)
    const disabled = await cli(['rule', 'trigger', 'prod', '-c', file], env)
    expect(disabled.code).toBe(2)
    expect(disabled.stderr).toContain('RULE_DISABLED')
    expect((await cli(['rule', 'enable', 'prod', '-c', file])).code).toBe(0)
    const list = JSON.parse((await cli(['rule', 'list', '-c', file, '--json'])).stdout)
    expect(list.rules.map((r: { name: string; enabled: boolean }) => [r.name, r.enabled])).toEqual([
      ['prod', true],
      ['other', true],
    ])

    expect((await cli(['rule', 'delete', 'prod', '-c', file])).code).toBe(0)
    text = await readFile(file, 'utf8')
    expect(text).not.toContain('name: prod')
    expect(text).toContain(otherBlock)
    expect(text).toContain('# team rule file — keep this comment')
    const missing = await cli(['rule', 'delete', 'prod', '-c', file])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('RULE_NOT_FOUND')
  })

  it('list and show never print credentials', async () => {
    const env = { ROBOT_PW: secret }
    for (const args of ruleReadCommands(file, 'other')) {
      const res = await cli(args, env)
      expect(res.code, res.stderr).toBe(0)
      expect(res.stdout + res.stderr).not.toContain(secret)
      expect(res.stdout + res.stderr).not.toContain('robot')
    }
    const show = JSON.parse((await cli(['rule', 'show', 'other', '-c', file, '--json'], env)).stdout)
    expect(show.registries.find((r: { name: string }) => r.name === 'dst').credentials).toBe('configured')
  })

  it('creating a rule that exists fails with RULE_EXISTS and leaves the file alone', async () => {
    const before = await readFile(file, 'utf8')
    const res = await createRule('other', file, 'src', 'x', '--target-registry', 'dst')
    expect(res.code).toBe(2)
    expect(res.stderr).toContain('RULE_EXISTS')
    expect(await readFile(file, 'utf8')).toBe(before)
  })
})

describe('locking and records', () => {
  it('two triggers of one rule at once: one runs, the other is LOCKED; records stay whole', async () => {
    const big = await startRegistry()
    const target = await startRegistry()
    const locks = join(dir, 'locks-concurrent')
    const records = join(dir, 'concurrent.jsonl')
    const proxy = await startFaultProxy({ upstream: big.url })
    try {
      await Promise.all(Array.from({ length: 40 }, (_, i) => pushImage(big.url, 'load/app', `1.0.${i}`)))
      // the first run is held on one image until the second has answered, however busy the machine
      let open = () => {}
      const gate = new Promise<void>((resolve) => {
        open = resolve
      })
      proxy.add({
        name: 'held',
        method: 'GET',
        path: /\/manifests\/1\.0\.7$/,
        fault: { kind: 'hold', until: gate },
      })
      const file = join(dir, 'lock.yaml')
      const create = await createRule('busy', file, proxy.host, 'load', '--target-registry', target.host)
      expect(create.code, create.stderr).toBe(0)
      const start = () =>
        cli(['rule', 'trigger', 'busy', '-c', file, '--json', '--concurrency', '2'], {
          IMGSYNC_RECORDS: records,
          IMGSYNC_LOCK_DIR: locks,
        })
      const first = start()
      // start the second once the first holds the lock
      for (let i = 0; i < 500 && !(existsSync(locks) && (await readdir(locks)).length > 0); i++)
        await new Promise((r) => setTimeout(r, 10))
      const second = await start()
      open()
      const done = await first
      expect(proxy.stats('held').injected, 'the first run never reached the held image').toBe(1)
      expect(done.code).toBe(0)
      expect(second.code).toBe(4)
      expect(JSON.parse(second.stdout).errors[0].code).toBe('LOCKED')

      const lines = (await readFile(records, 'utf8')).trimEnd().split('\n')
      const parsed = lines.map((l) => JSON.parse(l))
      const tasks = new Set(parsed.map((r) => r.taskId))
      expect(tasks.size).toBe(1)
      expect(parsed.filter((r) => r.type === 'item')).toHaveLength(40)

      const summary = await runImgsync(['records', '--summary', '--records', records, '--json'])
      const row = JSON.parse(summary.stdout).tasks[0]
      expect(row).toMatchObject({
        rule: 'busy',
        status: 'succeeded',
        items: 40,
        synced: 40,
        failed: 0,
        successRate: 1,
      })
    } finally {
      await Promise.all([proxy.close(), big.stop(), target.stop()])
    }
  })

  it('records filters: by rule, repo, tag and status; a damaged line is skipped', async () => {
    const records = join(dir, 'records.jsonl')
    await writeFile(records, `${await readFile(records, 'utf8')}{"type":"item", broken\n`)
    const byTag = await runImgsync([
      'records',
      '--records',
      records,
      '--repo',
      'team-a/app',
      '--tag',
      '1.1.0',
      '--json',
    ])
    expect(byTag.code).toBe(0)
    const out = JSON.parse(byTag.stdout)
    expect(out.items.length).toBeGreaterThan(0)
    for (const i of out.items) expect(i.tag).toBe('1.1.0')
    expect(out.damaged).toHaveLength(1)
    const byRule = JSON.parse(
      (await runImgsync(['records', '--records', records, '--summary', '--rule', 'charts', '--json'])).stdout,
    )
    expect(byRule.tasks.length).toBeGreaterThan(0)
    for (const t of byRule.tasks) expect(t.rule).toBe('charts')
    const failed = JSON.parse(
      (await runImgsync(['records', '--records', records, '--status', 'failed', '--json'])).stdout,
    )
    expect(failed.items).toEqual([])
    const human = await runImgsync(['records', '--records', records, '--summary'])
    expect(human.stdout).toMatch(/TASK\s+RULE\s+TRIGGER/)
    expect(human.stderr).toContain('damaged')
  })
})

describe('malformed rule files through the CLI', async () => {
  const fixtures = join(import.meta.dirname, '../fixtures/rules')
  const files = (await readdir(fixtures)).filter((f) => f.startsWith('bad-')).sort()

  it('has at least 20 cases', () => {
    expect(files.length).toBeGreaterThanOrEqual(20)
  })

  it.concurrent.each(files)('%s: one coded line with file:line, exit 2, no stack', async (name) => {
    const path = join(fixtures, name)
    const [, line] = /^# expect: (\d+) /.exec((await readFile(path, 'utf8')).split('\n')[0]!) ?? []
    const res = await cli(['rule', 'trigger', '--all', '-c', path])
    expect(res.code).toBe(2)
    expect(res.stdout).toBe('')
    const lines = res.stderr.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain('CONFIG_INVALID')
    expect(lines[0]).toContain(`${path}:${line}:`)
    expect(res.stderr).not.toMatch(/\bat .+:\d+:\d+\)/)
  })
})
