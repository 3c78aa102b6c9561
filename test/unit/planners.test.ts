// The planners against in-memory registries: what becomes an item, what is left out and why, and
// what fails before any copy (names a registry sent that are not valid, repositories that cannot
// be listed) — never a name outside the rule's namespaces.
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { ImgsyncError } from '../../src/errors.js'
import type { RegistryApi } from '../../src/registry/api.js'
import { parseRuleFile } from '../../src/rules/load.js'
import { parseRepoLocation, planRepo } from '../../src/sync/plan-adhoc.js'
import { planPush, planRule } from '../../src/sync/plan-rule.js'
import type { EndpointConfig, Registries } from '../../src/sync/registries.js'
import { selectSyncTags } from '../../src/sync/select-tags.js'
import { MemoryRegistry } from '../support/memory-registry.js'

/** A source whose tag list and catalog say whatever the test wants. */
class Listing extends MemoryRegistry {
  tagLists = new Map<string, string[]>()
  catalog: string[] = []
  unlistable = new Set<string>()
  override async listTags(repo: string): Promise<string[]> {
    if (this.unlistable.has(repo)) throw new ImgsyncError('DENIED', `cannot list ${repo}`)
    return this.tagLists.get(repo) ?? super.listTags(repo)
  }
  override async listRepositories(): Promise<string[]> {
    return this.catalog
  }
}

const RULES = `
version: 1
registries:
  src: { host: src.example }
  dst: { host: dst.example }
rules:
  - name: mirror
    source: { registry: src, namespace: team-a, tags: "^v" }
    target: { registry: dst, namespace: mirror }
    trigger: { type: auto }
`

function world() {
  const src = new Listing('src.example')
  const dst = new MemoryRegistry('dst.example')
  const registries: Registries = {
    get: (cfg: EndpointConfig): RegistryApi =>
      cfg.kind === 'registry' && cfg.host === 'src.example' ? src : dst,
  }
  const { config } = parseRuleFile(RULES, 'rules.yaml', {})
  return { src, dst, registries, config, rule: config.rules[0]! }
}

describe('planRepo (sync repo)', () => {
  it('valid tags are items; names that break the grammar but pass the filter fail as items', async () => {
    const { src, dst } = world()
    src.seedImage('app', 'v1', { layers: [randomBytes(10)] })
    src.tagLists.set('app', ['v1', 'v9/../latest', 'v8#', 'x/../y', `sha256-${'a'.repeat(64)}`])
    const plan = await planRepo(
      parseRepoLocation('src.example/app'),
      parseRepoLocation('dst.example/mirror'),
      src,
      dst,
      (tags) => selectSyncTags({ include: '^v' }, tags),
    )
    expect(plan.items.map((i) => `${i.srcRef} → ${i.dstRepo}:${i.dstTag}`)).toEqual(['v1 → mirror:v1'])
    expect(plan.failures?.map((f) => [f.tag, f.error.code])).toEqual([
      ['v9/../latest', 'INVALID_REFERENCE'],
      ['v8#', 'INVALID_REFERENCE'],
    ])
    expect(plan.excluded.map((e) => [e.tag, e.reason])).toEqual([
      [`sha256-${'a'.repeat(64)}`, 'referrer tag: copied with its subject'],
      ['x/../y', 'include'],
    ])
  })

  it('a tag with control characters is shown only in printable form', async () => {
    const { src, dst } = world()
    src.tagLists.set('app', ['v\u001b[2J\nimgsync: error X'])
    const plan = await planRepo(
      parseRepoLocation('src.example/app'),
      parseRepoLocation('dst.example/m'),
      src,
      dst,
      (tags) => selectSyncTags(undefined, tags),
    )
    const failure = plan.failures![0]!
    for (const text of [failure.tag, failure.source, failure.error.message]) {
      expect(text.includes('\n') || text.includes('\u001b'), text).toBe(false)
    }
  })
})

describe('planRule', () => {
  it('only catalog entries under the namespace; invalid entries fail, nothing lands outside mirror/', async () => {
    const { src, registries, config, rule } = world()
    src.catalog = ['team-a/app', 'team-a/../../victim2', 'team-b/other', 'team-a/sub/tool', 'team-a/gone']
    src.tagLists.set('team-a/app', ['v1', 'latest'])
    src.tagLists.set('team-a/sub/tool', ['v2'])
    src.unlistable.add('team-a/gone')
    const plan = await planRule(rule, config, 'rules.yaml', registries, { concurrency: 2 })
    expect(plan.items.map((i) => `${i.dstRepo}:${i.dstTag}`)).toEqual(['mirror/app:v1', 'mirror/sub/tool:v2'])
    for (const i of plan.items) expect(i.dstRepo.startsWith('mirror/')).toBe(true)
    const failures = plan.failures!.map((f) => [f.repository, f.tag, f.error.code]).sort()
    expect(failures).toEqual([
      ['team-a/../../victim2', '*', 'INVALID_REFERENCE'],
      ['team-a/gone', '*', 'DENIED'],
    ])
    expect(plan.excluded.map((e) => e.tag)).toEqual(['latest'])
    expect(plan.repositories).toBe(4)
  })
})

describe('planPush (auto rules)', () => {
  it('a pushed tag in the rule is one item under the target namespace', () => {
    const { registries, config, rule } = world()
    const plan = planPush(rule, config, 'rules.yaml', registries, 'team-a/app', 'v3')
    expect(plan.items.map((i) => `${i.dstRepo}:${i.dstTag}`)).toEqual(['mirror/app:v3'])
  })

  it('outside the namespace, filtered out, or not a valid name: no item, with the reason', () => {
    const { registries, config, rule } = world()
    const reason = (repo: string, tag: string) => {
      const plan = planPush(rule, config, 'rules.yaml', registries, repo, tag)
      expect(plan.items, `${repo}:${tag}`).toEqual([])
      return plan.excluded[0]?.reason
    }
    expect(reason('team-b/app', 'v1')).toBe('repository')
    expect(reason('team-a/app', 'latest')).toBe('include')
    expect(reason('../../v2/base', 'v1')).toBe('not a valid repository or tag name')
    expect(reason('team-a/app', 'v9/../latest')).toBe('not a valid repository or tag name')
  })
})
