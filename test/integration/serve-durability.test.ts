// `serve` that runs for a year, against real distribution processes sending push notifications: an
// accepted push is never lost (SIGTERM with a full queue, a target that is down for a minute), and
// one serve at a time holds a state.
import type { ChildProcess } from 'node:child_process'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startFaultProxy } from '../harness/fault-proxy.js'
import { listTags, pushImage } from '../harness/fixtures.js'
import { freePort, startRegistry } from '../harness/registry.js'
import { type RuleEntry, writeRuleFile } from '../harness/rule-file.js'
import {
  finalTasks,
  health,
  metrics,
  readRecords,
  type Served,
  serveReady,
  startNotifyingRegistry,
  startServe,
  waitFor,
} from '../harness/serve.js'
import { startTcpSwitch } from '../harness/tcp-switch.js'

let dir: string
const children: ChildProcess[] = []

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'imgsync-serve-durable-'))
})

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL')
})

async function serve(config: string, records: string, extra: string[], port: number): Promise<Served> {
  const s = await serveReady(config, records, dir, extra, port)
  children.push(s.child)
  return s
}

/**
 * A source that notifies serve of pushes, a rule file with one auto rule NAME from it to
 * `targetHost`, and serve started on it with `extra` flags. The caller stops `src`.
 */
async function serveNotifyingSource(name: string, targetHost: string, extra: string[]) {
  const port = await freePort()
  const src = await startNotifyingRegistry(port)
  try {
    const config = await autoRule(name, src.host, targetHost)
    const records = join(dir, `${name}.jsonl`)
    return { src, port, config, records, served: await serve(config, records, extra, port) }
  } catch (err) {
    await src.stop()
    throw err
  }
}

/** A rule file with one auto rule NAME from `src` namespace team to `dst` namespace mirror (and `more` rules). */
function autoRule(name: string, srcHost: string, dstHost: string, more: RuleEntry[] = []): Promise<string> {
  return writeRuleFile(join(dir, `${name}.yaml`), { src: srcHost, dst: dstHost }, [
    {
      name,
      source: { registry: 'src', namespace: 'team' },
      target: { registry: 'dst', namespace: 'mirror' },
      trigger: { type: 'auto' },
    },
    ...more,
  ])
}

/** Each tag of `digests` is at `url`'s mirror/app with its digest. */
async function expectMirrored(url: string, digests: Map<string, string>): Promise<void> {
  for (const [tag, digest] of digests) {
    const res = await fetch(`${url}/v2/mirror/app/manifests/${tag}`, {
      method: 'HEAD',
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    })
    expect(res.headers.get('docker-content-digest'), tag).toBe(digest)
  }
}

/** Pushes `count` images team/app:t000.. to the registry at `url`, a few at a time; returns tag → digest. */
async function pushTags(url: string, count: number): Promise<Map<string, string>> {
  const tags = Array.from({ length: count }, (_, i) => `t${String(i).padStart(3, '0')}`)
  const digests = new Map<string, string>()
  for (let i = 0; i < tags.length; i += 8) {
    await Promise.all(
      tags.slice(i, i + 8).map(async (tag) => digests.set(tag, await pushImage(url, 'team/app', tag))),
    )
  }
  return digests
}

async function acceptedPushes(url: string): Promise<number> {
  const m = await metrics(url)
  return m.get('imgsync_webhook_events_total{source="distribution",result="queued"}') ?? 0
}

describe('SIGTERM with a full queue', () => {
  it('200 pushes, SIGTERM with over 100 queued, a restart without --backfill: all 200 reach the target', async () => {
    const dst = await startRegistry()
    // every target request is slowed, so one worker is far behind the pushes when SIGTERM comes
    const slow = await startFaultProxy({
      upstream: dst.url,
      rules: [{ name: 'slow', path: /^\/v2\/.+/, fault: { kind: 'delay', ms: 150 } }],
    })
    const {
      src,
      port,
      config,
      records,
      served: first,
    } = await serveNotifyingSource('queued', slow.host, ['--workers', '1', '--grace', '0s'])
    try {
      const digests = await pushTags(src.url, 200)
      await waitFor('200 pushes accepted', async () => (await acceptedPushes(first.url)) === 200 || undefined)
      const before = await health(first.url)
      expect(before.queued).toBeGreaterThanOrEqual(100)

      first.child.kill('SIGTERM')
      expect(await first.exited).toBe(0)
      const kept = /stopped; (\d+) push job\(s\) kept in the journal/.exec(first.stderr())
      expect(kept, first.stderr()).not.toBeNull()
      const left = Number(kept![1])
      expect(left).toBeGreaterThanOrEqual(100)
      // every push the stop cut short (running or never started) is recorded as interrupted
      const stopped = await readRecords(records)
      const interruptedTags = new Set(
        stopped.filter((r) => r.type === 'item' && r.status === 'interrupted').map((r) => r.tag as string),
      )
      expect(interruptedTags.size).toBe(left)
      const syncedBefore = new Set(
        stopped.filter((r) => r.type === 'item' && r.status === 'synced').map((r) => r.tag as string),
      )
      expect(syncedBefore.size + left).toBe(200)

      // back up with a fast target and no --backfill: the journal alone brings the rest
      slow.setRules([])
      const second = await serve(config, records, [], port)
      await waitFor('all 200 tags at the target', async () => {
        const tags = await listTags(dst.url, 'mirror/app').catch(() => [])
        return tags.length === 200 || undefined
      })
      expect(second.stderr()).toContain(`replaying ${left} push job(s)`)
      await expectMirrored(dst.url, digests)
      await waitFor('the journal to empty', async () => (await health(second.url)).journal === 0 || undefined)
      const replayedTasks = finalTasks(await readRecords(records)).filter((t) => t.replayed === true)
      expect(replayedTasks).toHaveLength(left)
      expect(replayedTasks.every((t) => t.status === 'succeeded')).toBe(true)
      second.child.kill('SIGTERM')
      expect(await second.exited).toBe(0)
    } finally {
      await Promise.all([src.stop(), slow.close(), dst.stop()])
    }
  })
})

describe('a target that is down for a minute', () => {
  it('300 pushes while it is down all reach it once it is back; /healthz says degraded meanwhile', async () => {
    const dst = await startRegistry()
    const link = await startTcpSwitch(dst.port)
    const { src, served: s } = await serveNotifyingSource('outage', link.host, [
      '--workers',
      '4',
      '--degraded-after',
      '5s',
    ])
    try {
      await link.down()
      const downAt = Date.now()
      const digests = await pushTags(src.url, 300)
      await waitFor('300 pushes accepted', async () => (await acceptedPushes(s.url)) === 300 || undefined)
      const degraded = await waitFor('/healthz degraded', async () => {
        const h = await health(s.url)
        return h.status === 'degraded' ? h : undefined
      })
      expect(degraded.reasons?.join(' ')).toContain(link.host)
      // degraded is alive and ready (200): probes must not restart serve for someone else's outage
      expect((await fetch(`${s.url}/healthz`)).status).toBe(200)
      // keep the target down for a full minute
      await new Promise((r) => setTimeout(r, Math.max(0, 60_000 - (Date.now() - downAt))))
      expect((await health(s.url)).status).toBe('degraded')
      await link.up()

      await waitFor(
        'all 300 tags at the target',
        async () =>
          (await listTags(dst.url, 'mirror/app').catch(() => [])).length === 300 ? true : undefined,
        180_000,
      )
      await expectMirrored(dst.url, digests)
      await waitFor('/healthz ok again', async () => (await health(s.url)).status === 'ok' || undefined)
      const m = await metrics(s.url)
      expect(
        m.get(`imgsync_registry_last_success_timestamp_seconds{registry="${link.host}"}`),
      ).toBeGreaterThan(downAt / 1000)
      s.child.kill('SIGTERM')
      expect(await s.exited).toBe(0)
    } finally {
      await Promise.all([src.stop(), link.close(), dst.stop()])
    }
  }, 300_000)
})

describe('two serves on one state', () => {
  let src: Awaited<ReturnType<typeof startRegistry>>
  let dst: Awaited<ReturnType<typeof startRegistry>>
  afterAll(async () => {
    await Promise.all([src?.stop(), dst?.stop()])
  })

  it('the second refuses with LOCKED naming the first; each push is synced once', async () => {
    const port = await freePort()
    dst = await startRegistry()
    src = await startNotifyingRegistry(port)
    const config = await autoRule('twice', src.host, dst.host, [
      {
        name: 'ticking',
        source: { registry: 'src', namespace: 'team' },
        target: { registry: 'dst', namespace: 'ticks' },
        trigger: { type: 'schedule', cron: '* * * * * *' },
      },
    ])
    const records = join(dir, 'twice.jsonl')
    const first = await serve(config, records, [], port)
    const second = startServe(config, await freePort(), records, dir)
    children.push(second.child)
    expect(await second.exited).toBe(4)
    expect(second.stderr()).toMatch(
      new RegExp(
        `LOCKED.*imgsync serve pid ${first.child.pid} on .* \\(listening on 127\\.0\\.0\\.1:${port}`,
      ),
    )
    await pushTags(src.url, 3)
    await waitFor('3 tags mirrored', async () =>
      (await listTags(dst.url, 'mirror/app').catch(() => [])).length === 3 ? true : undefined,
    )
    first.child.kill('SIGTERM')
    expect(await first.exited).toBe(0)
    const tasks = finalTasks(await readRecords(records))
    const pushTasks = tasks.filter((t) => t.rule === 'twice')
    expect(pushTasks).toHaveLength(3)
    const ticks = tasks
      .filter((t) => t.rule === 'ticking' && t.status !== 'running')
      .map((t) => [Date.parse(t.startedAt), Date.parse(t.startedAt) + t.durationMs] as const)
      .sort((a, b) => a[0] - b[0])
    for (let i = 1; i < ticks.length; i++) expect(ticks[i]![0]).toBeGreaterThanOrEqual(ticks[i - 1]![1])
  })
})
