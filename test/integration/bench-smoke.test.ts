import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { REPO_ROOT, runNodeScript } from '../harness/cli.js'

// Keeps `npm run bench` from rotting: a tiny corpus, one run of each tool. It checks the shape of
// results.json and that every measurement happened; it never asserts on wall-clock numbers.
describe('bench smoke run', () => {
  let dir: string | undefined

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('times imgsync and skopeo on a tiny corpus and writes results.json', async () => {
    dir = await mkdtemp(join(tmpdir(), 'imgsync-bench-smoke-'))
    const out = join(dir, 'results.json')
    const run = await runNodeScript(join(REPO_ROOT, 'bench', 'run.js'), ['--smoke', '--out', out], {
      timeoutMs: 55_000,
    })
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toContain('| Scenario |')

    const res = JSON.parse(await readFile(out, 'utf8'))
    expect(res.smoke).toBe(true)
    expect(res.failures).toEqual([])
    expect(Object.keys(res.machine)).toEqual(expect.arrayContaining(['nproc', 'node', 'skopeo']))
    expect(res.corpus.tags).toBe(4) // 1 repo × 2 tags, the multi-arch index, the Helm chart
    expect(res.corpus.uniqueBlobBytes).toBeGreaterThan(0)
    expect(Object.keys(res.scenarios).sort()).toEqual(['cold', 'noop', 'startup'])

    for (const name of ['cold', 'noop', 'startup']) {
      const sc = res.scenarios[name]
      for (const tool of ['imgsync', 'skopeo']) {
        expect(sc[tool].ok, `${name} ${tool}`).toBe(true)
        expect(sc[tool].wallMs, `${name} ${tool} wall`).toBeGreaterThan(0)
        expect(sc[tool].peakRssMB, `${name} ${tool} RSS`).toBeGreaterThan(0)
      }
      expect(sc.ratio, `${name} ratio`).toBeGreaterThan(0)
    }
    // imgsync sends every unique blob once (the shared base is mounted, not re-sent); a no-op sends none
    expect(res.scenarios.cold.imgsync.blobBytes).toBe(res.corpus.uniqueBlobBytes)
    expect(res.scenarios.cold.skopeo.blobBytes).toBeGreaterThan(0)
    for (const tool of ['imgsync', 'skopeo']) expect(res.scenarios.noop[tool].blobBytes).toBe(0)
    expect(res.scenarios.cold.imgsync.items).toEqual({ synced: 4, skipped: 0, failed: 0 })
    expect(res.scenarios.noop.imgsync.items).toEqual({ synced: 0, skipped: 4, failed: 0 })
    // the tiny WAN run is judged too: against skopeo and against its round-trip floor
    expect(res.targets.map((t: { id: string }) => t.id)).toEqual([
      'cold',
      'bytes',
      'noop',
      'wan-cold',
      'wan-cold-floor',
      'wan-noop',
      'wan-noop-floor',
      'startup',
    ])
  })
})
