// registry → oci:DIR → second registry, through the CLI, as an air-gapped transfer is done.
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runImgsync, sha256Digest, skopeoInspectRaw } from '../harness/cli.js'
import { type Fixture, getManifest, startFixtureRegistries } from '../harness/fixtures.js'
import type { RunningRegistry } from '../harness/registry.js'
import { writeRuleFile } from '../harness/rule-file.js'

let src: RunningRegistry
let dst: RunningRegistry
let fixtures: Fixture[]
let dir: string

beforeAll(async () => {
  ;({ src, dst, fixtures } = await startFixtureRegistries())
  dir = await mkdtemp(join(tmpdir(), 'imgsync-airgap-'))
})
afterAll(async () => Promise.all([src?.stop(), dst?.stop()]))

describe('air-gapped transfer through an OCI layout', () => {
  it('sync repo into oci:DIR and out again preserves every digest', async () => {
    const records = join(dir, 'records.jsonl')
    const syncRepo = (from: string, to: string) =>
      runImgsync(['sync', 'repo', from, to, '--records', records])
    const repos = [...new Set(fixtures.map((f) => f.repo))]
    for (const repo of repos) {
      const out = await syncRepo(`${src.host}/${repo}`, `oci:${join(dir, 'export', repo)}`)
      expect(out.code, `${repo}: ${out.stderr}`).toBe(0)
    }
    for (const repo of repos) {
      const back = await syncRepo(`oci:${join(dir, 'export', repo)}`, `${dst.host}/${repo}`)
      expect(back.code, `${repo}: ${back.stderr}`).toBe(0)
    }
    for (const f of fixtures) {
      const ref = f.tag ?? f.digest
      expect((await getManifest(dst.url, f.repo, ref)).digest, `${f.kind} ${f.repo}:${ref}`).toBe(f.digest)
    }
    const v1 = fixtures.find((f) => f.repo === 'oci-image' && f.tag === 'v1')!
    const raw = await runSkopeoLayout(join(dir, 'export', 'oci-image'), 'v1')
    expect(sha256Digest(raw)).toBe(v1.digest)
  })

  it('a rule with an oci-layout registry exports a whole namespace, one layout per repository', async () => {
    const config = await writeRuleFile(
      join(dir, 'export.yaml'),
      { online: src.host, usb: { 'oci-layout': { path: './usb' } } },
      [{ name: 'export', source: { registry: 'online', namespace: 'team-a' }, target: { registry: 'usb' } }],
    )
    const res = await runImgsync(['rule', 'trigger', 'export', '-c', config, '--json'], {
      env: { IMGSYNC_RECORDS: join(dir, 'rule.jsonl') },
    })
    expect(res.code, res.stderr).toBe(0)
    const nested = fixtures.find((f) => f.kind === 'nested-repo')!
    const raw = await runSkopeoLayout(join(dir, 'usb', nested.repo), nested.tag!)
    expect(sha256Digest(raw)).toBe(nested.digest)
  })
})

function runSkopeoLayout(path: string, tag: string): Promise<Buffer> {
  return skopeoInspectRaw(`${path}:${tag}`, { transport: 'oci' })
}
