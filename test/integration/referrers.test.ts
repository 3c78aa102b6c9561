// Referrers (SBOM with subject, cosign signature tag) and platform subsets, against real registries.
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runImgsync, sha256Digest, skopeoInspectRaw } from '../harness/cli.js'
import {
  type Fixture,
  getManifest,
  MEDIA_TYPES,
  pushFixtureSet,
  pushManifest,
  pushReferrer,
} from '../harness/fixtures.js'
import { type RunningRegistry, startRegistry } from '../harness/registry.js'

let src: RunningRegistry
let fixtures: Fixture[]
let records: string
const fx = (kind: string) => fixtures.find((f) => f.kind === kind)!

async function sync(args: string[]) {
  const res = await runImgsync([...args, '--records', records, '--json'])
  return { ...res, json: res.stdout ? JSON.parse(res.stdout) : undefined }
}

/** sync repo of the source's oci-image (the fixture with a signature and an SBOM) to `to`. */
const syncOciImage = (to: string, ...flags: string[]) =>
  sync(['sync', 'repo', `${src.host}/oci-image`, to, ...flags])

/** sync tag of the source's oci-image:v1 to `to`. */
const syncV1 = (to: string, ...flags: string[]) =>
  sync(['sync', 'tag', `${src.host}/oci-image:v1`, to, ...flags])

function manifestPuts(entries: { method: string; path: string }[]): number {
  return entries.filter((e) => e.method === 'PUT' && e.path.includes('/manifests/')).length
}

beforeAll(async () => {
  src = await startRegistry()
  fixtures = await pushFixtureSet(src.url)
  records = join(await mkdtemp(join(tmpdir(), 'imgsync-ref-')), 'records.jsonl')
})
afterAll(async () => src?.stop())

describe('referrers', () => {
  let dst: RunningRegistry
  beforeAll(async () => {
    dst = await startRegistry()
  })
  afterAll(async () => dst?.stop())

  it('sync repo brings the image, its signature tag and its SBOM with identical digests', async () => {
    const res = await syncOciImage(`${dst.host}/oci-image`)
    expect(res.code, res.stderr).toBe(0)
    const v1 = res.json.items.find((i: { tag: string }) => i.tag === 'v1')
    expect(v1.referrers).toBe(2)
    // referrer tags are not items of their own
    expect(res.json.items.map((i: { tag: string }) => i.tag).sort()).toEqual(['v1', 'v2'])

    const sig = fx('cosign-signature')
    const sbom = fx('referrer')
    const index = fx('referrers-tag-index')
    expect(sha256Digest(await skopeoInspectRaw(`${dst.host}/oci-image:${sig.tag}`))).toBe(sig.digest)
    expect((await getManifest(dst.url, 'oci-image', sbom.digest)).digest).toBe(sbom.digest)
    const fallback = await getManifest(dst.url, 'oci-image', index.tag!)
    expect(fallback.digest).toBe(index.digest)
    const listed = JSON.parse(fallback.bytes.toString()).manifests.map((m: { digest: string }) => m.digest)
    expect(listed).toContain(sbom.digest)
  })

  it('a second sync pushes nothing', async () => {
    const before = await dst.requests()
    const res = await syncOciImage(`${dst.host}/oci-image`)
    expect(res.code).toBe(0)
    expect(res.json.items.every((i: { status: string }) => i.status === 'skipped')).toBe(true)
    expect(manifestPuts((await dst.requests()).slice(before.length))).toBe(0)
  })

  it('a tag filter that leaves out the referrer tags still brings them with their subject', async () => {
    const res = await syncOciImage(`${dst.host}/only-v1`, '--include', '^v1$')
    expect(res.code).toBe(0)
    const sig = fx('cosign-signature')
    expect(sha256Digest(await skopeoInspectRaw(`${dst.host}/only-v1:${sig.tag}`))).toBe(sig.digest)
  })

  it('--no-referrers copies the image alone', async () => {
    const res = await syncV1(`${dst.host}/bare`, '--no-referrers')
    expect(res.code).toBe(0)
    const tags = (await (await fetch(`${dst.url}/v2/bare/tags/list`)).json()) as { tags: string[] }
    expect(tags.tags).toEqual(['v1'])
  })

  it('keeps a referrer the target fallback index already lists', async () => {
    const target = await startRegistry()
    try {
      const v1 = fixtures.find((f) => f.repo === 'oci-image' && f.tag === 'v1')!
      expect((await syncV1(`${target.host}/oci-image`, '--no-referrers')).code).toBe(0)
      const other = await pushReferrer(target.url, 'oci-image', v1, 'target-only-sbom')
      const fallbackTag = `sha256-${v1.digest.slice('sha256:'.length)}`
      const existing = Buffer.from(
        JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [other] }),
      )
      await pushManifest(target.url, 'oci-image', fallbackTag, existing, MEDIA_TYPES.ociIndex)

      const res = await syncOciImage(`${target.host}/oci-image`)
      expect(res.code, res.stderr).toBe(0)
      const merged = JSON.parse((await getManifest(target.url, 'oci-image', fallbackTag)).bytes.toString())
      const digests = merged.manifests.map((m: { digest: string }) => m.digest)
      expect(digests).toContain(other.digest)
      expect(digests).toContain(fx('referrer').digest)
      expect(new Set(digests).size).toBe(digests.length)

      const again = await target.requests()
      await syncOciImage(`${target.host}/oci-image`)
      expect(manifestPuts((await target.requests()).slice(again.length))).toBe(0)
    } finally {
      await target.stop()
    }
  })
})

describe('platforms', () => {
  let dst: RunningRegistry
  beforeAll(async () => {
    dst = await startRegistry()
  })
  afterAll(async () => dst?.stop())
  /** sync tag of the OCI index fixture to dst's `to`, with the flags given. */
  const indexTo = (to: string, ...flags: string[]) => {
    const idx = fx('oci-index')
    return ['sync', 'tag', `${src.host}/${idx.repo}:${idx.tag}`, `${dst.host}/${to}`, ...flags]
  }

  it('--platform copies one child and records both digests; without it the digest is kept', async () => {
    const idx = fx('oci-index')
    const res = await sync(indexTo('plat', '--platform', 'linux/amd64'))
    expect(res.code, res.stderr).toBe(0)
    const item = res.json.items[0]
    expect(item.sourceDigest).toBe(idx.digest)
    expect(item.digest).not.toBe(idx.digest)
    const copied = await getManifest(dst.url, 'plat', idx.tag!)
    expect(copied.digest).toBe(item.digest)
    const children = JSON.parse(copied.bytes.toString()).manifests
    expect(children).toHaveLength(1)
    expect(children[0].platform).toMatchObject({ os: 'linux', architecture: 'amd64' })

    const again = await sync(indexTo('plat', '--platform', 'linux/amd64'))
    expect(again.json.items[0].status).toBe('skipped')

    const whole = await sync(indexTo('whole'))
    expect(whole.json.items[0].digest).toBe(idx.digest)
    expect(whole.json.items[0].sourceDigest).toBeUndefined()
  })

  it('an unknown platform fails the item with NOT_FOUND; a malformed one is INVALID_ARGUMENT', async () => {
    const none = await sync(indexTo('none', '--platform', 'linux/s390x'))
    expect(none.code).toBe(1)
    expect(none.json.items[0].code).toBe('NOT_FOUND')
    const bad = await runImgsync(indexTo('none', '--platform', 'linux'))
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('INVALID_ARGUMENT')
  })
})
