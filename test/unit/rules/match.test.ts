import { describe, expect, it } from 'vitest'
import { ImgsyncError } from '../../../src/errors.js'
import {
  compareTagsDescending,
  inShard,
  parseShard,
  relativePath,
  selectRepositories,
  selectTags,
  shardOf,
  tagVersion,
  targetRepository,
} from '../../../src/rules/match.js'

const repos = [
  'team-a/app',
  'team-a/sub/tool',
  'team-a/sub/deep/x',
  'team-a/other',
  'team-ab/app',
  'team-a',
  'org/team-a/app',
  'library/nginx',
]

const rule = (namespace: string, repositories?: string | string[], targetNamespace?: string) => ({
  source: { namespace, repositories },
  target: { namespace: targetNamespace },
})

describe('selectRepositories', () => {
  it('keeps repositories under the namespace, not ones that merely share its prefix', () => {
    expect(selectRepositories(rule('team-a'), repos)).toEqual([
      'team-a/app',
      'team-a/sub/tool',
      'team-a/sub/deep/x',
      'team-a/other',
    ])
  })

  it('matches the regex against the path below the namespace', () => {
    expect(selectRepositories(rule('team-a', '^(app|sub/.*)$'), repos)).toEqual([
      'team-a/app',
      'team-a/sub/tool',
      'team-a/sub/deep/x',
    ])
    // unanchored: like grep
    expect(selectRepositories(rule('team-a', 'o'), repos)).toEqual(['team-a/sub/tool', 'team-a/other'])
  })

  it('takes a list of exact names', () => {
    expect(selectRepositories(rule('team-a', ['app', 'sub/tool', 'missing']), repos)).toEqual([
      'team-a/app',
      'team-a/sub/tool',
    ])
    expect(selectRepositories(rule('team-a', ['sub']), repos)).toEqual([])
  })

  it('handles multi-level namespaces', () => {
    expect(selectRepositories(rule('team-a/sub'), repos)).toEqual(['team-a/sub/tool', 'team-a/sub/deep/x'])
    expect(selectRepositories(rule('team-a/sub', '^deep/'), repos)).toEqual(['team-a/sub/deep/x'])
    expect(selectRepositories(rule('org/team-a'), repos)).toEqual(['org/team-a/app'])
  })

  it('treats "" as the registry root', () => {
    expect(selectRepositories(rule(''), repos)).toEqual(repos)
    expect(selectRepositories(rule('', '^library/'), repos)).toEqual(['library/nginx'])
  })

  it('drops duplicates and keeps input order', () => {
    expect(selectRepositories(rule('team-a'), ['team-a/b', 'team-a/a', 'team-a/b'])).toEqual([
      'team-a/b',
      'team-a/a',
    ])
  })
})

describe('relativePath and targetRepository', () => {
  it('relativePath', () => {
    expect(relativePath('team-a', 'team-a/sub/app')).toBe('sub/app')
    expect(relativePath('team-a/sub', 'team-a/sub/app')).toBe('app')
    expect(relativePath('', 'x/y')).toBe('x/y')
    expect(relativePath('team-a', 'team-ab/app')).toBeUndefined()
    expect(relativePath('team-a', 'team-a')).toBeUndefined()
  })

  it('swaps the namespace prefix', () => {
    expect(targetRepository(rule('team-a', undefined, 'mirror'), 'team-a/sub/app')).toBe('mirror/sub/app')
    expect(targetRepository(rule('team-a', undefined, 'x/y/z'), 'team-a/app')).toBe('x/y/z/app')
    expect(targetRepository(rule('', undefined, 'mirror'), 'library/nginx')).toBe('mirror/library/nginx')
    expect(targetRepository(rule('team-a', undefined, ''), 'team-a/sub/app')).toBe('sub/app')
  })

  it('defaults the target namespace to the source namespace', () => {
    expect(targetRepository(rule('team-a'), 'team-a/sub/app')).toBe('team-a/sub/app')
  })

  it('refuses a repository outside the namespace', () => {
    expect(() => targetRepository(rule('team-a'), 'team-b/app')).toThrow(ImgsyncError)
  })
})

describe('selectTags', () => {
  const tags = [
    'v1.0.0',
    'v1.2.0',
    'v1.2.1-rc.1',
    'v1.3.0',
    '1.10.0',
    '2.0.0',
    'latest',
    'main',
    'v1.2.1-rc.2',
    'sha-abc',
  ]

  it('keeps everything without a filter', () => {
    expect(selectTags(undefined, tags)).toEqual({ selected: tags, excluded: [] })
    expect(selectTags({}, tags)).toEqual({ selected: tags, excluded: [] })
  })

  it('include and exclude, with the filter that dropped each tag', () => {
    const { selected, excluded } = selectTags({ include: '^v', exclude: '-rc' }, tags)
    expect(selected).toEqual(['v1.0.0', 'v1.2.0', 'v1.3.0'])
    expect(excluded).toEqual([
      { tag: 'v1.2.1-rc.1', reason: 'exclude' },
      { tag: '1.10.0', reason: 'include' },
      { tag: '2.0.0', reason: 'include' },
      { tag: 'latest', reason: 'include' },
      { tag: 'main', reason: 'include' },
      { tag: 'v1.2.1-rc.2', reason: 'exclude' },
      { tag: 'sha-abc', reason: 'include' },
    ])
  })

  it('semver range, tolerating a v prefix and short versions; non-versions and prereleases drop out', () => {
    const { selected, excluded } = selectTags({ semver: '>=1.2 <2' }, [...tags, '1.5', 'v1'])
    expect(selected).toEqual(['v1.2.0', 'v1.3.0', '1.10.0', '1.5'])
    expect(excluded.every((e) => e.reason === 'semver')).toBe(true)
    expect(excluded.map((e) => e.tag)).toEqual([
      'v1.0.0',
      'v1.2.1-rc.1',
      '2.0.0',
      'latest',
      'main',
      'v1.2.1-rc.2',
      'sha-abc',
      'v1',
    ])
  })

  it('latest keeps the N highest in semver order (1.10 above 1.3), reported in input order', () => {
    const { selected, excluded } = selectTags({ latest: 3 }, tags)
    expect(selected).toEqual(['v1.3.0', '1.10.0', '2.0.0'])
    expect(excluded.filter((e) => e.reason === 'latest')).toHaveLength(tags.length - 3)
  })

  it('latest ranks prereleases below their release and non-version tags below all versions', () => {
    expect(selectTags({ latest: 2 }, ['1.0.0', '1.1.0-rc.1', '1.1.0', 'zzz']).selected).toEqual([
      '1.1.0-rc.1',
      '1.1.0',
    ])
    expect(selectTags({ latest: 3 }, ['main', '1.0.0', 'latest', '0.9']).selected).toEqual([
      'main',
      '1.0.0',
      '0.9',
    ])
    // among non-versions: natural order, highest first
    expect(selectTags({ latest: 1 }, ['build-9', 'build-10']).selected).toEqual(['build-10'])
  })

  it('applies latest after the other filters', () => {
    const { selected, excluded } = selectTags({ include: '^v', exclude: '-rc', latest: 2 }, tags)
    expect(selected).toEqual(['v1.2.0', 'v1.3.0'])
    expect(excluded.find((e) => e.tag === 'v1.0.0')).toEqual({ tag: 'v1.0.0', reason: 'latest' })
    expect(excluded.find((e) => e.tag === '2.0.0')).toEqual({ tag: '2.0.0', reason: 'include' })
  })

  it('combines semver and latest', () => {
    expect(selectTags({ semver: '^1', latest: 2 }, tags).selected).toEqual(['v1.3.0', '1.10.0'])
  })

  it('keeps all when latest exceeds the count, and considers duplicates once', () => {
    expect(selectTags({ latest: 50 }, ['a', 'b', 'a'])).toEqual({ selected: ['a', 'b'], excluded: [] })
  })

  it('orders ties deterministically', () => {
    expect(['1.2.0', 'v1.2', 'v1.2.0'].sort(compareTagsDescending)).toEqual(['v1.2.0', 'v1.2', '1.2.0'])
    expect(['v1.2', '1.2.0', 'v1.2.0'].sort(compareTagsDescending)).toEqual(['v1.2.0', 'v1.2', '1.2.0'])
  })

  it('tagVersion reads versions loosely', () => {
    expect(tagVersion('v1.2.3')?.version).toBe('1.2.3')
    expect(tagVersion('1.25')?.version).toBe('1.25.0')
    expect(tagVersion('V2')?.version).toBe('2.0.0')
    expect(tagVersion('1.2.3-alpine')?.version).toBe('1.2.3-alpine')
    expect(tagVersion('latest')).toBeNull()
    expect(tagVersion('1.2.3.4')).toBeNull()
  })
})

describe('shards', () => {
  const many = Array.from({ length: 200 }, (_, i) => `ns-${i % 7}/repo-${i}`)

  it('is stable (FNV-1a of the path)', () => {
    expect(shardOf('team-a/app', 1)).toBe(0)
    expect(shardOf('', 1000)).toBe(0x811c9dc5 % 1000)
    expect(shardOf('a', 2 ** 32 - 1)).toBe(0xe40c292c % (2 ** 32 - 1))
    // a fixed value: a shard never moves between releases or hosts
    expect(shardOf('team-a/app', 4)).toBe(2)
  })

  it.each([1, 2, 3, 4])('n=%i: every repository lands in exactly one shard', (n) => {
    const shards = Array.from({ length: n }, (_, i) =>
      many.filter((repo) => inShard(repo, { index: i, count: n })),
    )
    expect(shards.flat().sort()).toEqual([...many].sort())
    expect(new Set(shards.flat()).size).toBe(many.length)
    // and the split is not degenerate
    for (const shard of shards) expect(shard.length).toBeGreaterThan(many.length / n / 2)
  })

  it('everything is in the undefined shard', () => {
    expect(inShard('x', undefined)).toBe(true)
  })

  it('parseShard', () => {
    expect(parseShard('0/1')).toEqual({ index: 0, count: 1 })
    expect(parseShard('2/3')).toEqual({ index: 2, count: 3 })
    for (const bad of ['1/1', '3/3', '0/0', '-1/2', 'a/b', '1', '1/2/3', ' 0/2', '0.5/2', '']) {
      const err = (() => {
        try {
          parseShard(bad)
        } catch (e) {
          return e
        }
      })()
      expect(err, bad).toBeInstanceOf(ImgsyncError)
      expect((err as ImgsyncError).code).toBe('INVALID_ARGUMENT')
      expect((err as ImgsyncError).message).toContain('0 <= INDEX < COUNT')
    }
  })

  it('shardOf rejects a bad count', () => {
    expect(() => shardOf('x', 0)).toThrow(ImgsyncError)
    expect(() => shardOf('x', 1.5)).toThrow(ImgsyncError)
  })
})
