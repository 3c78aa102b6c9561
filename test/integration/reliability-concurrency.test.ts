// Concurrency safety: several imgsync processes editing one rule file never corrupt it (lock +
// atomic write), and several tasks appending to one records file write only whole lines.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { runImgsync } from '../harness/cli.js'
import { pushImage } from '../harness/fixtures.js'
import { checkGraph, describeDangling } from '../harness/graph-check.js'
import { type RunningRegistry, startRegistry } from '../harness/registry.js'
import { ruleCreateArgs } from '../harness/rule-file.js'

let src: RunningRegistry
let dst: RunningRegistry
let dir: string
const TAGS = ['1.0', '1.1', '1.2', '2.0', '2.1']

interface RuleListJson {
  rules: { name: string; enabled: boolean; description?: string }[]
  registries: { name: string }[]
}

beforeAll(async () => {
  ;[src, dst] = await Promise.all([startRegistry(), startRegistry()])
  dir = await mkdtemp(join(tmpdir(), 'imgsync-concurrency-'))
  await Promise.all(
    ['conc/a', 'conc/b'].map(async (repo) => {
      for (const tag of TAGS) await pushImage(src.url, repo, tag)
    }),
  )
})

afterAll(async () => {
  await Promise.all([src?.stop(), dst?.stop()])
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('one rule file, many writers', () => {
  it('concurrent rule create / update / disable keep every rule and a parseable file', async () => {
    const file = join(dir, 'rules.yaml')
    const lockDir = join(dir, 'locks')
    const env = { IMGSYNC_LOCK_DIR: lockDir }
    const create = (name: string) =>
      runImgsync(
        ruleCreateArgs(
          name,
          file,
          src.host,
          'conc',
          '--repo-list',
          name.endsWith('b') ? 'b' : 'a',
          '--target-registry',
          dst.host,
          '--target-namespace',
          `copies/${name}`,
        ),
        { env },
      )
    const first = Array.from({ length: 6 }, (_, i) => `r${i}`)
    const created = await Promise.all(first.map(create))
    for (const r of created) expect(r.code, r.stderr).toBe(0)

    // a second wave mixes edits of existing rules with more creates
    const more = Array.from({ length: 3 }, (_, i) => `s${i}`)
    const wave = await Promise.all([
      ...first
        .slice(0, 3)
        .map((name) =>
          runImgsync(['rule', 'update', name, '-c', file, '--description', `edited ${name}`], { env }),
        ),
      ...first.slice(3).map((name) => runImgsync(['rule', 'disable', name, '-c', file], { env })),
      ...more.map(create),
    ])
    for (const r of wave) expect(r.code, r.stderr).toBe(0)

    // the file is valid YAML that imgsync itself reads back whole
    const text = await readFile(file, 'utf8')
    const doc = parse(text) as { rules: { name: string }[]; registries: Record<string, unknown> }
    expect(doc.rules.map((r) => r.name).sort()).toEqual([...first, ...more].sort())
    expect(Object.keys(doc.registries)).toHaveLength(2)
    const list = await runImgsync(['rule', 'list', '-c', file, '--json'])
    expect(list.code, list.stderr).toBe(0)
    const rules = (JSON.parse(list.stdout) as RuleListJson).rules
    const byName = Object.fromEntries(rules.map((r) => [r.name, r]))
    for (const name of first.slice(0, 3)) expect(byName[name]?.description).toBe(`edited ${name}`)
    for (const name of first.slice(3)) expect(byName[name]?.enabled).toBe(false)
    for (const name of more) expect(byName[name]?.enabled).toBe(true)
    // no temporary file of an atomic write is left behind
    expect((await readdir(dir)).filter((f) => f.startsWith('rules.yaml') && f !== 'rules.yaml')).toEqual([])
  })
})

describe('one records file, many tasks', () => {
  it('concurrent sync tasks and rule triggers append whole lines only', async () => {
    const records = join(dir, 'shared.jsonl')
    const rules = join(dir, 'trigger.yaml')
    const env = { IMGSYNC_LOCK_DIR: join(dir, 'trigger-locks') }
    for (const name of ['ta', 'tb']) {
      const r = await runImgsync(
        [
          'rule',
          'create',
          name,
          '-c',
          rules,
          '--source-registry',
          src.host,
          '--source-namespace',
          'conc',
          '--repo-list',
          name === 'ta' ? 'a' : 'b',
          '--target-registry',
          dst.host,
          '--target-namespace',
          `triggered/${name}`,
        ],
        { env },
      )
      expect(r.code, r.stderr).toBe(0)
    }
    const runs = await Promise.all([
      ...[0, 1, 2, 3].map((i) =>
        runImgsync([
          'sync',
          'tag',
          `${src.host}/conc/${i % 2 ? 'b' : 'a'}`,
          `${dst.host}/parallel/p${i}`,
          '--tags',
          TAGS.join(','),
          '--records',
          records,
          '--json',
        ]),
      ),
      ...['ta', 'tb'].map((name) =>
        runImgsync(['rule', 'trigger', name, '-c', rules, '--records', records, '--json'], { env }),
      ),
    ])
    for (const r of runs) expect(r.code, r.stderr).toBe(0)

    const text = await readFile(records, 'utf8')
    expect(text.endsWith('\n')).toBe(true)
    const lines = text.slice(0, -1).split('\n')
    const parsed = lines.map((l) => JSON.parse(l) as { type: string; taskId: string; status: string })
    const tasks = new Map<string, { task: number; items: number; statuses: string[] }>()
    for (const rec of parsed) {
      const t = tasks.get(rec.taskId) ?? { task: 0, items: 0, statuses: [] }
      if (rec.type === 'task') {
        t.task++
        t.statuses.push(rec.status)
      } else t.items++
      tasks.set(rec.taskId, t)
    }
    expect(tasks.size).toBe(6)
    for (const [id, t] of tasks) {
      expect(t.statuses, id).toEqual(['running', 'succeeded'])
      expect(t.items, id).toBe(TAGS.length)
    }
    const report = await checkGraph(dst.url)
    expect(report.dangling, describeDangling(report.dangling)).toEqual([])
    expect(report.tags).toBe(6 * TAGS.length)
  })
})
