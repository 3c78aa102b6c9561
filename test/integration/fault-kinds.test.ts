// Every kind of content imgsync copies (OCI and Docker images, indexes and lists, a Helm chart, a
// bare artifact, a referrer, the referrers tag schema, a cosign signature, a nested repository)
// through 15% random faults on both sides (503, 429, resets mid-body either way), over five seeds:
// every item synced, every tag digest-exact, nothing dangling. The 60-tag repository under the same
// faults is in registry-matrix.test.ts.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runImgsync } from '../harness/cli.js'
import { type Fixture, getManifest, pushFixtureSet } from '../harness/fixtures.js'
import { checkGraph, describeDangling } from '../harness/graph-check.js'
import { type RunningRegistry, startRegistry } from '../harness/registry.js'
import { type RegistryProxy, startRegistryProxy } from '../harness/registry-proxy.js'

const KINDS = ['503', '429', 'reset-response', 'reset-request'] as const

let src: RunningRegistry
let dst: RunningRegistry
let dir: string
let fixtures: Fixture[]
const proxies: RegistryProxy[] = []

beforeAll(async () => {
  ;[src, dst] = await Promise.all([startRegistry(), startRegistry()])
  dir = await mkdtemp(join(tmpdir(), 'imgsync-fault-kinds-'))
  fixtures = await pushFixtureSet(src.url, 'fx/')
}, 120_000)

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()))
  await Promise.all([src?.stop(), dst?.stop()])
  if (dir) await rm(dir, { recursive: true, force: true })
})

async function faulty(upstream: string, seed: number): Promise<RegistryProxy> {
  const p = await startRegistryProxy({ upstream, faults: { rate: 0.15, seed, kinds: [...KINDS] } })
  proxies.push(p)
  return p
}

const injected = (p: RegistryProxy) => p.requests.filter((r) => r.action?.startsWith('fault:')).length

describe.concurrent('every fixture kind through 15% faults on both sides', () => {
  it.for([1, 2, 3, 4, 5])(
    'seed %i: every item synced, digest-exact, nothing dangling',
    { timeout: 150_000 },
    async (seed) => {
      const [from, to] = await Promise.all([faulty(src.url, seed), faulty(dst.url, seed + 1000)])
      const repos = [...new Set(fixtures.map((f) => f.repo))]
      const target = (repo: string) => `seed-${seed}/${repo}`
      for (const repo of repos) {
        const res = await runImgsync(
          [
            'sync',
            'repo',
            `${from.host}/${repo}`,
            `${to.host}/${target(repo)}`,
            '--json',
            '--records',
            join(dir, `records-${seed}.jsonl`),
          ],
          {
            env: { IMGSYNC_TIMEOUT: '10', IMGSYNC_LOCK_DIR: join(dir, `locks-${seed}`) },
            timeoutMs: 110_000,
          },
        )
        const json = JSON.parse(res.stdout) as { items: { tag: string; status: string; code?: string }[] }
        const notSynced = json.items.filter((i) => i.status !== 'synced')
        expect(res.code, `${repo}: ${JSON.stringify(notSynced)} ${res.stderr}`).toBe(0)
        expect(json.items.length, repo).toBeGreaterThan(0)
      }
      for (const f of fixtures) {
        // a tag points at the source's digest; the untagged referrer is there by digest
        const got = await getManifest(dst.url, target(f.repo), f.tag ?? f.digest)
        expect(got.digest, `${f.kind} ${f.repo}:${f.tag ?? f.digest}`).toBe(f.digest)
      }
      const report = await checkGraph(dst.url, { repos: repos.map(target) })
      expect(report.dangling, describeDangling(report.dangling)).toEqual([])
      // the faults did strike, on both sides
      expect(injected(from)).toBeGreaterThan(0)
      expect(injected(to)).toBeGreaterThan(0)
    },
  )
})
