// Hints that say what happened and what to do, through the commands a user types: a registry that
// takes no pushes (HTTP 405), an authentication failure that names the side that failed and only
// that side's options, and an interrupted task with nothing done that shows no 100% success rate.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runImgsync, startImgsync } from '../harness/cli.js'
import { type FaultProxy, startFaultProxy, untilInjected, uploadPath } from '../harness/fault-proxy.js'
import { pushImage } from '../harness/fixtures.js'
import { pushImageWithLayers } from '../harness/graph-check.js'
import { type RunningRegistry, startRegistry } from '../harness/registry.js'
import { writeRuleFile } from '../harness/rule-file.js'

const USER = { username: 'robot', password: 'the-right-password' }
let plain: RunningRegistry
let auth: RunningRegistry
let dir: string
const proxies: FaultProxy[] = []

beforeAll(async () => {
  ;[plain, auth] = await Promise.all([startRegistry(), startRegistry({ htpasswd: [USER] })])
  dir = await mkdtemp(join(tmpdir(), 'imgsync-hints-'))
  await pushImage(plain.url, 'team/app', '1.0')
  await pushImage(auth.url, 'locked/app', '1.0', USER)
})
afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()))
  await Promise.all([plain?.stop(), auth?.stop()])
  if (dir) await rm(dir, { recursive: true, force: true })
})

interface Out {
  task: { status: string; code?: string; message?: string }
  items: { code?: string; message?: string }[]
}
const records = () => join(dir, 'records.jsonl')
async function json(args: string[], env: Record<string, string> = {}) {
  const res = await runImgsync([...args, '--records', records(), '--json'], { env })
  return { ...res, out: JSON.parse(res.stdout) as Out }
}

describe('a registry that takes no pushes', () => {
  it('HTTP 405 on the upload says read-only or pull-through, not a bare error', async () => {
    const cache = await startFaultProxy({ upstream: plain.url })
    proxies.push(cache)
    cache.add({ method: 'POST', path: uploadPath('mirror/app'), fault: { kind: 'status', status: 405 } })
    const res = await json(['sync', 'tag', `${plain.host}/team/app:1.0`, `${cache.host}/mirror/app`])
    expect(res.code, res.stderr).toBe(1)
    const item = res.out.items[0]!
    expect(item.code).toBe('DENIED')
    expect(item.message).toMatch(/the registry does not take pushes \(HTTP 405 on POST\)/)
    expect(item.message).toMatch(/read-only, or a pull-through cache or mirror/)
  })
})

describe('AUTH_FAILED names the side that failed, and only its options', () => {
  it('the source (sync repo: listing its tags fails the task)', async () => {
    const res = await json(['sync', 'repo', `${auth.host}/locked/app`, `${plain.host}/copy/app`], {
      IMGSYNC_SRC_USERNAME: USER.username,
      IMGSYNC_SRC_PASSWORD: 'wrong-password',
    })
    expect(res.code).toBe(1)
    const { code, message } = res.out.task
    expect(code).toBe('AUTH_FAILED')
    expect(message).toMatch(new RegExp(`^source ${auth.host}: `))
    expect(message).toContain(
      "check the source's credentials: they came from IMGSYNC_SRC_USERNAME and IMGSYNC_SRC_PASSWORD",
    )
    expect(message).toContain('--src-creds-file')
    expect(message).not.toMatch(/--dst-|IMGSYNC_DST/)
    expect(res.stdout).not.toContain('wrong-password')
  })

  it('the target, with a credentials file', async () => {
    const creds = join(dir, 'dst.creds')
    await writeFile(creds, `${USER.username}:not-it\n`, { mode: 0o600 })
    const res = await json([
      'sync',
      'tag',
      `${plain.host}/team/app:1.0`,
      `${auth.host}/pushed/app`,
      '--dst-creds-file',
      creds,
    ])
    expect(res.code).toBe(1)
    const item = res.out.items[0]!
    expect(item.code).toBe('AUTH_FAILED')
    expect(item.message).toMatch(new RegExp(`^target ${auth.host}: `))
    expect(item.message).toContain(`check the target's credentials: they came from --dst-creds-file ${creds}`)
    expect(item.message).not.toMatch(/--src-|IMGSYNC_SRC/)
  })

  it('no credentials at all: says where they could come from, for that side', async () => {
    const res = await json(['sync', 'tag', `${plain.host}/team/app:1.0`, `${auth.host}/anon/app`])
    const item = res.out.items[0]!
    expect(item.code).toBe('AUTH_FAILED')
    expect(item.message).toMatch(new RegExp(`^target ${auth.host}: `))
    expect(item.message).toContain(
      `give the target's with --dst-creds-file FILE, IMGSYNC_DST_USERNAME and IMGSYNC_DST_PASSWORD, or a docker login ${auth.host}`,
    )
    expect(item.message).not.toMatch(/--src-|IMGSYNC_SRC/)
  })

  it('a rule: the registry entry of the rule file, not the flags of sync', async () => {
    const config = await writeRuleFile(
      join(dir, 'imgsync.yaml'),
      {
        plain: plain.host,
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the rule file's own ${VAR} syntax
        vault: { host: auth.host, credentials: { username: 'robot', password: '${HINTS_TEST_PASSWORD}' } },
      },
      [
        {
          name: 'up',
          source: { registry: 'plain', namespace: 'team', repositories: ['app'] },
          target: { registry: 'vault', namespace: 'rules' },
        },
      ],
    )
    const res = await runImgsync(
      ['rule', 'trigger', 'up', '--config', config, '--records', records(), '--json'],
      {
        env: { HINTS_TEST_PASSWORD: 'not-the-password' },
      },
    )
    expect(res.code).toBe(1)
    const item = (JSON.parse(res.stdout) as { tasks: Out[] }).tasks[0]!.items[0]!
    expect(item.code).toBe('AUTH_FAILED')
    expect(item.message).toMatch(new RegExp(`^target ${auth.host}: `))
    expect(item.message).toContain(
      `the target is registry "vault" of ${config}: set registries.vault.credentials`,
    )
    expect(item.message).not.toMatch(/--src-|--dst-|IMGSYNC_SRC|IMGSYNC_DST/)
  })
})

describe('an interrupted task with nothing done', () => {
  it('shows no 100% success rate in records --summary', async () => {
    const image = await pushImageWithLayers(plain.url, 'slow/app', '1.0', [256 * 1024])
    const slow = await startFaultProxy({ upstream: plain.url })
    proxies.push(slow)
    slow.add({
      name: 'slow',
      method: 'GET',
      path: new RegExp(`/blobs/${image.layers[0]}$`),
      fault: { kind: 'throttle', bytesPerSecond: 8 * 1024 },
    })
    const file = join(dir, 'interrupted.jsonl')
    const run = startImgsync(
      ['sync', 'tag', `${slow.host}/slow/app:1.0`, `${plain.host}/slowcopy/app`, '--records', file],
      {
        timeoutMs: 60_000,
      },
    )
    await untilInjected(slow, 'slow')
    run.kill('SIGINT')
    expect((await run.exited).code).toBe(130)
    const summary = await runImgsync(['records', '--summary', '--records', file])
    expect(summary.code, summary.stderr).toBe(0)
    const row = summary.stdout.split('\n').find((l) => /interrupted/.test(l))!
    expect(row).toMatch(/\b0%/)
    expect(row).not.toMatch(/100%/)
  })
})
