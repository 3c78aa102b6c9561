// `imgsync serve` with real registries: push notifications, schedules, metrics, SIGTERM; and sharding.
import type { ChildProcess } from 'node:child_process'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { runImgsync } from '../harness/cli.js'
import { getManifest, listTags, pushImage } from '../harness/fixtures.js'
import { freePort, type RunningRegistry, startRegistry } from '../harness/registry.js'
import { writeRuleFile } from '../harness/rule-file.js'
import {
  finalTasks,
  metrics,
  readRecords,
  type Served,
  serveReady,
  startNotifyingRegistry,
  WEBHOOK_TOKEN,
  waitFor,
} from '../harness/serve.js'

const TOKEN = WEBHOOK_TOKEN
let dir: string
let children: ChildProcess[] = []
/** the registries of the tests after the first describe, each test in namespaces of its own */
let src: RunningRegistry
let dst: RunningRegistry

async function serve(config: string, records: string, extra: string[] = []): Promise<Served> {
  const s = await serveReady(config, records, dir, extra)
  children.push(s.child)
  return s
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'imgsync-serve-'))
  ;[src, dst] = await Promise.all([startRegistry(), startRegistry()])
})

afterAll(async () => {
  await Promise.all([src?.stop(), dst?.stop()])
})

/** A rule file at DIR/NAME.yaml from src to dst: the rule NAME with this source namespace (and trigger). */
function srcToDstRule(name: string, namespace: string, trigger?: Record<string, string>): Promise<string> {
  return writeRuleFile(join(dir, `${name}.yaml`), { src: src.host, dst: dst.host }, [
    {
      name,
      source: { registry: 'src', namespace },
      target: { registry: 'dst' },
      ...(trigger && { trigger }),
    },
  ])
}

afterEach(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
  children = []
})

describe('auto rules on push notifications', () => {
  // a source of its own, which notifies serve of pushes (the target is the shared dst)
  let notifying: RunningRegistry
  let served: Served
  let records: string

  beforeAll(async () => {
    const port = await freePort()
    notifying = await startNotifyingRegistry(port)
    records = join(dir, 'auto.jsonl')
    const config = await writeRuleFile(join(dir, 'auto.yaml'), { src: notifying.host, dst: dst.host }, [
      {
        name: 'releases',
        source: { registry: 'src', namespace: 'team', tags: '^v' },
        target: { registry: 'dst', namespace: 'mirror' },
        trigger: { type: 'auto' },
      },
    ])
    served = await serveReady(config, records, dir, [], port)
  })

  afterAll(async () => {
    served?.child.kill('SIGKILL')
    await notifying?.stop()
  })

  it('a pushed tag appears digest-identical in the target; a filtered push does not', async () => {
    const dev = await pushImage(notifying.url, 'team/app', 'dev-1')
    expect(dev).toMatch(/^sha256:/)
    const v1 = await pushImage(notifying.url, 'team/app', 'v1.0.0')
    const got = await waitFor(
      'mirror/app:v1.0.0',
      async () => (await getManifest(dst.url, 'mirror/app', 'v1.0.0')).digest,
    )
    expect(got).toBe(v1)
    // the dev push arrived before v1 (notifications keep order per endpoint): it was filtered, not pending
    expect(await listTags(dst.url, 'mirror/app')).toEqual(['v1.0.0'])
    const recs = await readRecords(records)
    const tasks = finalTasks(recs)
    expect(tasks.every((t) => t.trigger === 'auto')).toBe(true)
  })

  it('/metrics is Prometheus text whose counters match the records', async () => {
    await pushImage(notifying.url, 'team/app', 'v1.1.0')
    await waitFor('v1.1.0', async () => (await getManifest(dst.url, 'mirror/app', 'v1.1.0')).digest).catch(
      (err) => {
        throw new Error(`${err.message}; serve said: ${served.stderr()}`)
      },
    )
    // the tag is visible at the target as soon as its manifest is pushed; serve records the item,
    // ends the task and counts both a moment later
    const recs = await waitFor('v1.1.0 recorded, its task ended', async () => {
      const r = await readRecords(records)
      const item = r.some((x) => x.type === 'item' && x.tag === 'v1.1.0' && x.status === 'synced')
      return item && finalTasks(r).every((t) => t.status !== 'running') ? r : undefined
    })
    const synced = recs.filter((r) => r.type === 'item' && r.status === 'synced').length
    const finished = finalTasks(recs).filter((t) => t.status === 'succeeded').length
    const counted = (m: Map<string, number>) =>
      m.get('imgsync_items_total{rule="releases",status="synced"}') === synced &&
      m.get('imgsync_tasks_total{rule="releases",trigger="auto",status="succeeded"}') === finished
    // checked below whatever the wait saw, so a mismatch fails with both numbers
    const samples = await waitFor(
      '/metrics to count the records',
      async () => {
        const m = await metrics(served.url)
        return counted(m) ? m : undefined
      },
      5000,
    ).catch(() => metrics(served.url))
    expect(samples.get('imgsync_items_total{rule="releases",status="synced"}')).toBe(synced)
    expect(samples.get('imgsync_tasks_total{rule="releases",trigger="auto",status="succeeded"}')).toBe(
      finished,
    )
    expect(
      samples.get('imgsync_webhook_events_total{source="distribution",result="queued"}'),
    ).toBeGreaterThanOrEqual(2)
    expect(
      samples.get('imgsync_webhook_events_total{source="distribution",result="filtered"}'),
    ).toBeGreaterThanOrEqual(1)
    expect(
      [...samples.keys()].some((k) =>
        k.startsWith(`imgsync_registry_requests{registry="${notifying.host}"}`),
      ),
    ).toBe(true)
  })

  it('webhooks need the bearer token, and events for unknown hosts are ignored and counted', async () => {
    const body = JSON.stringify({
      events: [
        {
          id: 'x1',
          action: 'push',
          target: {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            repository: 'team/app',
            tag: 'v9',
            digest: `sha256:${'0'.repeat(64)}`,
          },
          request: { host: 'other.example:5000' },
        },
      ],
    })
    const denied = await fetch(`${served.url}/webhooks/distribution`, { method: 'POST', body })
    expect(denied.status).toBe(401)
    const ok = await fetch(`${served.url}/webhooks/distribution`, {
      method: 'POST',
      body,
      headers: { authorization: `Bearer ${TOKEN}` },
    })
    expect(ok.status).toBe(202)
    expect(await ok.json()).toMatchObject({ unknown_host: 1, queued: 0 })
    const harbor = await fetch(`${served.url}/webhooks/harbor`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({
        type: 'PUSH_ARTIFACT',
        occur_at: 1,
        event_data: {
          resources: [
            { digest: `sha256:${'0'.repeat(64)}`, tag: 'v9', resource_url: `${notifying.host}/team/app:v9` },
          ],
          repository: { name: 'app', namespace: 'team', repo_full_name: 'team/app' },
        },
      }),
    })
    expect(harbor.status).toBe(202)
    // v9 does not exist at the source: the item fails, the service goes on
    expect(((await harbor.json()) as { queued: number }).queued).toBe(1)
  })

  it('SIGTERM stops the service with exit 0', async () => {
    served.child.kill('SIGTERM')
    expect(await served.exited).toBe(0)
  })
})

describe('schedules', () => {
  it('a seconds-level cron runs repeatedly as scheduled tasks that never overlap', async () => {
    await Promise.all(Array.from({ length: 6 }, (_, i) => pushImage(src.url, 'ns/app', `1.0.${i}`)))
    const config = await srcToDstRule('every-second', 'ns', { type: 'schedule', cron: '* * * * * *' })
    const records = join(dir, 'schedule.jsonl')
    const s = await serve(config, records)
    const tasks = await waitFor('three scheduled tasks', async () => {
      const done = finalTasks(await readRecords(records)).filter((t) => t.status !== 'running')
      return done.length >= 3 ? done : undefined
    })
    s.child.kill('SIGTERM')
    expect(await s.exited).toBe(0)
    expect(tasks.every((t) => t.trigger === 'scheduled' && t.rule === 'every-second')).toBe(true)
    const spans = finalTasks(await readRecords(records))
      .filter((t) => t.status !== 'running')
      .map((t) => [
        Date.parse(t.startedAt as string),
        Date.parse(t.startedAt as string) + (t.durationMs as number),
      ])
      .sort((a, b) => a[0]! - b[0]!)
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]!)
    expect((await listTags(dst.url, 'ns/app')).length).toBe(6)
  })
})

describe('SIGTERM during a large sync', () => {
  it('exits 0 within seconds, records interrupted, and a following trigger completes the rest', async () => {
    const digests = new Map<string, string>()
    for (let i = 0; i < 40; i++) digests.set(`1.0.${i}`, await pushImage(src.url, 'big/app', `1.0.${i}`))
    const config = await srcToDstRule('large', 'big', { type: 'auto' })
    const records = join(dir, 'large.jsonl')
    const s = await serve(config, records, ['--backfill', '--concurrency', '1'])
    await waitFor('some items', async () => {
      const items = (await readRecords(records)).filter((r) => r.type === 'item')
      return items.length >= 3 || undefined
    })
    const stopAt = Date.now()
    s.child.kill('SIGTERM')
    expect(await s.exited).toBe(0)
    expect(Date.now() - stopAt).toBeLessThan(15_000)
    const tasks = finalTasks(await readRecords(records))
    expect(tasks.map((t) => t.status)).toContain('interrupted')

    const rest = await runImgsync(['rule', 'trigger', 'large', '-c', config, '--records', records], {
      env: { IMGSYNC_LOCK_DIR: join(dir, 'locks-large') },
    })
    expect(rest.code, rest.stderr).toBe(0)
    for (const [tag, digest] of digests)
      expect((await getManifest(dst.url, 'big/app', tag)).digest).toBe(digest)
  })
})

describe('rule trigger --shard', () => {
  it('for n = 1..4 the shards together do exactly the unsharded work, each item once', async () => {
    await Promise.all(Array.from({ length: 16 }, (_, i) => pushImage(src.url, `fleet/svc-${i}`, '1.0')))
    const config = await srcToDstRule('fleet', 'fleet')
    const itemsOf = async (args: string[]) => {
      const res = await runImgsync(
        ['rule', 'trigger', 'fleet', '-c', config, '--dry-run', '--json', ...args],
        {
          env: { IMGSYNC_RECORDS: join(dir, 'shard.jsonl') },
        },
      )
      expect(res.code === 0 || res.code === 3, res.stderr).toBe(true)
      return JSON.parse(res.stdout).tasks[0].items.map((i: { source: string }) => i.source) as string[]
    }
    const all = (await itemsOf([])).sort()
    expect(all).toHaveLength(16)
    for (let n = 1; n <= 4; n++) {
      const parts = await Promise.all(Array.from({ length: n }, (_, i) => itemsOf(['--shard', `${i}/${n}`])))
      const union = parts.flat().sort()
      expect(union, `n=${n}`).toEqual(all)
    }
  })
})
