// Each command's flags and arguments as oclif parses them: defaults, bounds, exclusive pairs and
// required values, so a flag's contract cannot change without a test noticing.
import { type Command, Errors, Parser } from '@oclif/core'
import { describe, expect, it } from 'vitest'
import Records from '../../src/commands/records.js'
import RuleCreate from '../../src/commands/rule/create.js'
import RuleDelete from '../../src/commands/rule/delete.js'
import RuleDisable from '../../src/commands/rule/disable.js'
import RuleEnable from '../../src/commands/rule/enable.js'
import RuleList from '../../src/commands/rule/list.js'
import RuleShow from '../../src/commands/rule/show.js'
import RuleTrigger from '../../src/commands/rule/trigger.js'
import RuleUpdate from '../../src/commands/rule/update.js'
import Serve from '../../src/commands/serve.js'
import SyncRepo from '../../src/commands/sync/repo.js'
import SyncTag from '../../src/commands/sync/tag.js'

type CommandClass = typeof Command & { flags?: object; args?: object; baseFlags?: object; strict?: boolean }

function parse(cmd: CommandClass, argv: string[]) {
  return Parser.parse(argv, {
    flags: { ...cmd.baseFlags, ...cmd.flags } as never,
    args: (cmd.args ?? {}) as never,
    strict: cmd.strict ?? true,
  })
}

/** The parse error's message, or undefined when argv parsed. */
async function refusal(cmd: CommandClass, argv: string[]): Promise<string | undefined> {
  try {
    await parse(cmd, argv)
    return undefined
  } catch (err) {
    expect(err, argv.join(' ')).toBeInstanceOf(Errors.CLIError)
    return (err as Error).message
  }
}

describe('sync tag', () => {
  it('defaults: concurrency 8, referrers on, log level warn', async () => {
    const { args, flags } = await parse(SyncTag, ['a.example/x:1', 'b.example/x'])
    expect(args).toEqual({ src: 'a.example/x:1', dst: 'b.example/x' })
    expect(flags).toMatchObject({ concurrency: 8, referrers: true, 'log-level': 'warn' })
    expect(flags.override).toBeUndefined()
  })

  it('repeatable --platform, --no-referrers, --tags as given', async () => {
    const { flags } = await parse(SyncTag, [
      's.example/x',
      'd.example/x',
      '--tags',
      'a,b',
      '--platform',
      'linux/amd64',
      '--platform',
      'linux/arm64',
      '--no-referrers',
    ])
    expect(flags).toMatchObject({ tags: 'a,b', platform: ['linux/amd64', 'linux/arm64'], referrers: false })
  })

  it('refuses a concurrency out of 1-64, a CA with --src-insecure, a missing target', async () => {
    expect(await refusal(SyncTag, ['s', 'd', '--concurrency', '0'])).toMatch(/concurrency/)
    expect(await refusal(SyncTag, ['s', 'd', '--concurrency', '65'])).toMatch(/concurrency/)
    expect(await refusal(SyncTag, ['s', 'd', '--src-ca', 'ca.pem', '--src-insecure'])).toMatch(
      /src-insecure|src-ca/,
    )
    expect(await refusal(SyncTag, ['s'])).toMatch(/Missing 1 required arg/)
    expect(await refusal(SyncTag, ['s', 'd', '--nope'])).toMatch(/Nonexistent flag/)
  })
})

describe('sync repo', () => {
  it('filters, prune and --max-delete (default 10)', async () => {
    const { flags } = await parse(SyncRepo, ['s.example/x', 'd.example/x', '--include', '^v', '--prune'])
    expect(flags).toMatchObject({ include: '^v', prune: true, 'max-delete': 10 })
    expect(await refusal(SyncRepo, ['s', 'd', '--latest', '0'])).toMatch(/latest/)
    expect(await refusal(SyncRepo, ['s', 'd', '--max-delete', '-1'])).toMatch(/max-delete/)
  })
})

describe('rule commands', () => {
  it('rule create needs the source and target, and knows the trigger types', async () => {
    const ok = await parse(RuleCreate, [
      'r1',
      '--source-registry',
      'hk',
      '--source-namespace',
      'team-a',
      '--target-registry',
      'bj',
      '--trigger',
      'schedule',
      '--cron',
      '0 1 * * *',
    ])
    expect(ok.flags).toMatchObject({ 'source-registry': 'hk', trigger: 'schedule', cron: '0 1 * * *' })
    expect(await refusal(RuleCreate, ['r1', '--source-registry', 'hk'])).toMatch(
      /source-namespace|target-registry/,
    )
    const bad = [
      'r1',
      '--source-registry',
      'a',
      '--source-namespace',
      'n',
      '--target-registry',
      'b',
      '--trigger',
      'x',
    ]
    expect(await refusal(RuleCreate, bad)).toMatch(/trigger/)
  })

  it('rule update takes --latest as a number and --repos or --repo-list, not both', async () => {
    expect((await parse(RuleUpdate, ['r1', '--latest', '3'])).flags.latest).toBe(3)
    expect(await refusal(RuleUpdate, ['r1', '--repos', 'a', '--repo-list', 'b'])).toMatch(/repo/)
  })

  it('show, enable, disable and delete need a name; list needs none', async () => {
    for (const cmd of [RuleShow, RuleEnable, RuleDisable, RuleDelete])
      expect(await refusal(cmd, [])).toMatch(/Missing 1 required arg/)
    expect((await parse(RuleList, ['-c', 'x.yaml'])).flags.config).toBe('x.yaml')
  })

  it('rule trigger takes many names, --wait in seconds (default 0) and --shard', async () => {
    const { argv, flags } = await parse(RuleTrigger, ['a', 'b', '--shard', '1/3', '--dry-run'])
    expect(argv).toEqual(['a', 'b'])
    expect(flags).toMatchObject({ shard: '1/3', wait: 0, 'dry-run': true, 'max-delete': 10 })
    expect(await refusal(RuleTrigger, ['a', '--wait', '-5'])).toMatch(/wait/)
  })
})

describe('records and serve', () => {
  it('records: --limit (default 50), repeatable --records, a known --status', async () => {
    const { flags } = await parse(Records, [
      '--records',
      'a.jsonl',
      '--records',
      'b.jsonl',
      '--status',
      'failed',
    ])
    expect(flags).toMatchObject({ records: ['a.jsonl', 'b.jsonl'], status: 'failed', limit: 50 })
    expect(await refusal(Records, ['--status', 'nope'])).toMatch(/status/)
    expect(await refusal(Records, ['--limit', '0'])).toMatch(/limit/)
  })

  it('serve: listens on 127.0.0.1:8080 by default, 2 workers, at most 32', async () => {
    const { flags } = await parse(Serve, [])
    expect(flags).toMatchObject({ listen: '127.0.0.1:8080', workers: 2, concurrency: 8 })
    expect(await refusal(Serve, ['--workers', '33'])).toMatch(/workers/)
  })
})
