// Interrupt and resume: SIGINT / SIGTERM in the middle of a sync whose layers the fault proxy serves
// slowly → the task and its unfinished items are recorded `interrupted`, the process exits 130 within
// the grace period, and running the same command again finishes the rest and skips what was done.
// kill -9 leaves a consistent target and a records file whose complete lines all parse.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CliProcess, runImgsync, startImgsync } from '../harness/cli.js'
import { type FaultProxy, startFaultProxy } from '../harness/fault-proxy.js'
import { listTags } from '../harness/fixtures.js'
import {
  checkGraph,
  describeDangling,
  pushImageWithLayers,
  type SeededImage,
} from '../harness/graph-check.js'
import { type RunningRegistry, startRegistry } from '../harness/registry.js'

const TAGS = Array.from({ length: 12 }, (_, i) => `t${String(i).padStart(2, '0')}`)
/** the first two items (concurrency 2) copy at once; the layers of the others crawl, so they are in flight at the signal */
const FAST_COUNT = 2
const LAYER = 128 * 1024
const GRACE_MS = 3000

interface Rec {
  type: 'task' | 'item'
  taskId: string
  status: string
  tag?: string
  code?: string
}

let src: RunningRegistry
let dst: RunningRegistry
let dir: string
const images: SeededImage[] = []
const proxies: FaultProxy[] = []

/** A proxy in front of the source that serves every layer after the first two at 16 KiB/s. */
async function slowSource(): Promise<FaultProxy> {
  const p = await startFaultProxy({ upstream: src.url })
  proxies.push(p)
  const layers = images.flatMap((i) => i.layers)
  p.add({
    name: 'slow',
    method: 'GET',
    path: new RegExp(`/blobs/(${layers.join('|')})$`),
    // with --concurrency 2 the first two layer GETs belong to the first two items
    skip: FAST_COUNT,
    fault: { kind: 'throttle', bytesPerSecond: 16 * 1024 },
  })
  return p
}

/** A sync to interrupt: SIGKILLed if it still runs after a minute. */
function start(args: string[]): CliProcess {
  return startImgsync(args, { timeoutMs: 60_000 })
}

/** Complete lines of a records file (a line cut by kill -9 has no newline and is left out). */
async function records(file: string): Promise<{ complete: string[]; partial: string }> {
  const text = await readFile(file, 'utf8').catch(() => '')
  const lines = text.split('\n')
  return { complete: lines.slice(0, -1).filter((l) => l !== ''), partial: lines.at(-1) ?? '' }
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Starts a slow sync and returns once two items are synced and two slow layers are being served. */
async function startMidway(targetRepo: string) {
  const proxy = await slowSource()
  // a directory of its own: the remembered blob locations beside the records must not let this run
  // mount the layers another test (running at the same time) copied, instead of reading them slowly
  const own = await mkdtemp(join(dir, 'run-'))
  const file = join(own, `${targetRepo.replaceAll('/', '-')}.jsonl`)
  const args = ['sync', 'repo', `${proxy.host}/big/app`, `${dst.host}/${targetRepo}`, '--concurrency', '2']
  const run = start([...args, '--records', file, '--json'])
  let fast: string[] = []
  await waitFor('the fast tags to sync', async () => {
    const { complete } = await records(file)
    const lines = complete.map((l) => JSON.parse(l) as Rec)
    fast = lines.filter((r) => r.type === 'item' && r.status === 'synced').map((r) => r.tag ?? '')
    return fast.length >= FAST_COUNT
  })
  await waitFor('two slow layers in flight', () => proxy.stats('slow').injected >= 2)
  expect(fast).toHaveLength(FAST_COUNT)
  return { proxy, file, args, run, fast: fast.sort() }
}

async function expectConsistent(targetRepo: string, tags: string[]): Promise<void> {
  // this test's repository only: the other signals' tests push to theirs at the same time, and
  // distribution lists a tag a moment before its link resolves
  const report = await checkGraph(dst.url, { repos: [targetRepo] })
  expect(report.dangling, describeDangling(report.dangling)).toEqual([])
  expect((await listTags(dst.url, targetRepo)).sort()).toEqual(tags)
}

/** The same command again, without the slow proxy rule: the rest is copied, the rest skipped. */
async function resume(proxy: FaultProxy, args: string[], file: string, targetRepo: string, fast: string[]) {
  proxy.setRules([])
  const again = await runImgsync([...args, '--records', file, '--json'])
  expect(again.code, again.stderr).toBe(0)
  const items = (JSON.parse(again.stdout) as { items: Rec[] }).items
  const byTag = Object.fromEntries(items.map((i) => [i.tag, i.status]))
  for (const t of TAGS) expect(byTag[t], t).toBe(fast.includes(t) ? 'skipped' : 'synced')
  await expectConsistent(targetRepo, TAGS)
}

beforeAll(async () => {
  ;[src, dst] = await Promise.all([startRegistry(), startRegistry()])
  dir = await mkdtemp(join(tmpdir(), 'imgsync-interrupt-'))
  for (const tag of TAGS) images.push(await pushImageWithLayers(src.url, 'big/app', tag, [LAYER]))
})

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()))
  await Promise.all([src?.stop(), dst?.stop()])
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe.concurrent('interrupt and resume', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} mid-sync: in-flight and pending items recorded interrupted, exit 130 promptly; a re-run finishes`, async () => {
      const target = `mirror/${signal.toLowerCase()}`
      const { proxy, file, args, run, fast } = await startMidway(target)
      const sentAt = Date.now()
      run.kill(signal)
      const exit = await run.exited
      expect(exit.code, run.stderr()).toBe(130)
      // in-flight items get the grace period, then the process is gone (generous slack for a busy CI
      // machine; without the prompt exit it took until the 8 s transfers ended, and longer with retries)
      expect(exit.at - sentAt).toBeLessThan(GRACE_MS + 4500)
      expect(run.stderr()).toContain(`${signal}: stopping`)

      const out = JSON.parse(run.stdout()) as { task: Rec; items: Rec[] }
      expect(out.task.status).toBe('interrupted')
      expect(out.task.code).toBe('INTERRUPTED')
      const byTag = Object.fromEntries(out.items.map((i) => [i.tag, i.status]))
      expect(Object.keys(byTag).sort()).toEqual(TAGS)
      for (const t of TAGS) expect(byTag[t], t).toBe(fast.includes(t) ? 'synced' : 'interrupted')
      for (const i of out.items.filter((x) => x.status === 'interrupted')) expect(i.code).toBe('INTERRUPTED')

      // the records say the same: the last task line is interrupted, and every item is there
      const lines = (await records(file)).complete.map((l) => JSON.parse(l) as Rec)
      const tasks = lines.filter((l) => l.type === 'task')
      expect(tasks.map((t) => t.status)).toEqual(['running', 'interrupted'])
      expect(lines.filter((l) => l.type === 'item')).toHaveLength(TAGS.length)

      // nothing half-copied is visible: only the finished tags exist, and their graphs are whole
      await expectConsistent(target, fast)
      await resume(proxy, args, file, target, fast)
    })
  }

  it('kill -9 mid-sync: the target stays consistent, every complete records line parses, a re-run finishes', async () => {
    const target = 'mirror/sigkill'
    const { proxy, file, args, run, fast } = await startMidway(target)
    run.kill('SIGKILL')
    const exit = await run.exited
    expect(exit.signal).toBe('SIGKILL')

    const { complete, partial } = await records(file)
    const parsed = complete.map((l) => JSON.parse(l) as Rec)
    // the task never got its final line; whatever was recorded is whole
    expect(parsed.filter((l) => l.type === 'task').map((t) => t.status)).toEqual(['running'])
    expect(
      parsed
        .filter((l) => l.type === 'item' && l.status === 'synced')
        .map((l) => l.tag)
        .sort(),
    ).toEqual(fast)
    expect(partial).toBe('')
    await expectConsistent(target, fast)

    // `imgsync records` reads the file without complaint
    const rec = await runImgsync(['records', '--records', file, '--summary', '--json'])
    expect(rec.code, rec.stderr).toBe(0)
    expect((JSON.parse(rec.stdout) as { damaged: string[] }).damaged).toEqual([])

    await resume(proxy, args, file, target, fast)
  })
})
