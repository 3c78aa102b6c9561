// registry → OCI image layout → second registry, through the copy engine and OciLayoutRegistry,
// against real distribution registries on loopback; skopeo reads (and writes) the layout.
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pLimit from 'p-limit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BlobCopier, MemoryBlobLocations } from '../../src/copy/blob-copier.js'
import { type CopyRequest, copyImage } from '../../src/copy/copy-image.js'
import { ReferrerFinder } from '../../src/copy/referrers.js'
import type { RegistryApi } from '../../src/registry/api.js'
import { staticCredentials } from '../../src/registry/auth.js'
import { HttpRegistry } from '../../src/registry/http-registry.js'
import { isIndexType, isManifestType, MediaTypes } from '../../src/registry/media-types.js'
import { OciLayoutRegistry, REF_NAME_ANNOTATION } from '../../src/registry/oci-layout.js'
import { sha256Digest } from '../harness/cli.js'
import { type Fixture, getManifest, headBlob, listTags, startFixtureRegistries } from '../harness/fixtures.js'
import type { RunningRegistry } from '../harness/registry.js'

let src: RunningRegistry
let dst: RunningRegistry
let fixtures: Fixture[]
let dir: string
let exportRoot: string

const tagged = () => fixtures.filter((f): f is Fixture & { tag: string } => f.tag !== undefined)
const repos = () => [...new Set(fixtures.map((f) => f.repo))].sort()

function http(reg: RunningRegistry): HttpRegistry {
  return new HttpRegistry({ name: reg.host, host: reg.host, credentials: staticCredentials(undefined) })
}

function deps() {
  return { blobs: new BlobCopier(pLimit(4), new MemoryBlobLocations()), referrers: new ReferrerFinder() }
}

function copy(
  from: RegistryApi,
  to: RegistryApi,
  f: { repo: string; tag: string },
  over: Partial<CopyRequest> = {},
  d = deps(),
) {
  return copyImage(
    {
      src: from,
      srcRepo: f.repo,
      srcRef: f.tag,
      dst: to,
      dstRepo: f.repo,
      dstTag: f.tag,
      override: false,
      dryRun: false,
      referrers: false,
      ...over,
    },
    d,
  )
}

/** Copies every tagged fixture from `from` to `to`, one set of copy dependencies; each keeps its digest. */
async function copyTagged(from: RegistryApi, to: RegistryApi) {
  const d = deps()
  const outs = []
  for (const f of tagged()) {
    const out = await copy(from, to, f, {}, d)
    expect(out.digest, `${f.kind} ${f.repo}:${f.tag}`).toBe(f.digest)
    outs.push(out)
  }
  return outs
}

interface Run {
  ok: boolean
  stdout: Buffer
  stderr: string
}

function skopeo(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      'skopeo',
      args,
      { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024, timeout: 30_000 },
      (err, stdout, stderr) => resolve({ ok: !err, stdout, stderr: stderr.toString('utf8') }),
    )
  })
}

/** skopeo (containers/image) reads tags only for OCI manifest / OCI index entries of index.json */
function skopeoCanTag(mediaType: string): boolean {
  return mediaType === MediaTypes.ociManifest || mediaType === MediaTypes.ociIndex
}

beforeAll(async () => {
  ;({ src, dst, fixtures } = await startFixtureRegistries())
  dir = await mkdtemp(join(tmpdir(), 'imgsync-oci-it-'))
  exportRoot = join(dir, 'export')
})

afterAll(async () => {
  await Promise.all([src?.stop(), dst?.stop()])
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('registry → oci layout → registry', () => {
  it('exports every tagged fixture with its digest', async () => {
    const layout = new OciLayoutRegistry(exportRoot, { mode: 'multi' })
    for (const out of await copyTagged(http(src), layout)) expect(out.status).toBe('synced')
    expect(await layout.listRepositories()).toEqual(repos())
    for (const repo of repos()) {
      const want = tagged()
        .filter((f) => f.repo === repo)
        .map((f) => f.tag)
        .sort()
      expect([...(await layout.listTags(repo))].sort(), repo).toEqual(want)
    }
    for (const f of fixtures) {
      const info = await layout.headManifest(f.repo, f.tag ?? f.digest)
      expect(info?.digest, `${f.kind} ${f.repo}:${f.tag ?? f.digest}`).toBe(f.digest)
      expect(info?.mediaType).toBe(f.mediaType)
      for (const blob of f.blobs)
        expect(await layout.hasBlob(f.repo, blob), `${f.kind} blob ${blob}`).toBe(true)
      for (const child of f.children ?? []) expect(await layout.headManifest(f.repo, child)).toBeDefined()
    }
  })

  it('stores index.json entries with ref.name annotations and the true media types', async () => {
    for (const repo of repos()) {
      const layoutDir = join(exportRoot, repo)
      expect(JSON.parse(await readFile(join(layoutDir, 'oci-layout'), 'utf8'))).toEqual({
        imageLayoutVersion: '1.0.0',
      })
      const index = JSON.parse(await readFile(join(layoutDir, 'index.json'), 'utf8'))
      expect(index.schemaVersion).toBe(2)
      expect(index.mediaType).toBe(MediaTypes.ociIndex)
      for (const f of tagged().filter((x) => x.repo === repo)) {
        const entry = index.manifests.find(
          (m: { annotations?: Record<string, string> }) => m.annotations?.[REF_NAME_ANNOTATION] === f.tag,
        )
        expect(entry, `${repo}:${f.tag}`).toMatchObject({
          digest: f.digest,
          size: f.size,
          mediaType: f.mediaType,
        })
        const bytes = await readFile(join(layoutDir, 'blobs', 'sha256', f.digest.slice('sha256:'.length)))
        expect(sha256Digest(bytes)).toBe(f.digest)
      }
    }
  })

  it('skopeo inspect --raw oci:DIR:TAG returns the fixture bytes for every OCI-typed tag', async () => {
    let checked = 0
    for (const f of tagged()) {
      const ref = `oci:${join(exportRoot, f.repo)}:${f.tag}`
      const res = await skopeo(['inspect', '--raw', ref])
      if (skopeoCanTag(f.mediaType)) {
        expect(res.ok, `${ref}: ${res.stderr}`).toBe(true)
        expect(sha256Digest(res.stdout), `${f.kind} ${ref}`).toBe(f.digest)
        checked++
      } else {
        // containers/image looks tags up only among OCI-typed index.json entries; a Docker schema 2
        // manifest or list keeps its media type here (its digest depends on the bytes), so skopeo
        // cannot name it. Newer skopeo says "matches unsupported manifest MIME type".
        expect(isManifestType(f.mediaType) || isIndexType(f.mediaType)).toBe(true)
        if (res.ok) expect(sha256Digest(res.stdout)).toBe(f.digest)
        else expect(res.stderr).toMatch(/no descriptor found for reference|unsupported manifest MIME type/)
      }
    }
    expect(checked, 'OCI-typed tags that skopeo read back').toBeGreaterThan(0)
    expect(
      tagged()
        .filter((f) => !skopeoCanTag(f.mediaType))
        .map((f) => f.kind),
    ).toEqual(expect.arrayContaining(['docker-image', 'docker-list']))
  })

  it('skopeo inspect (parsed) reads an exported OCI image, its platform and layers', async () => {
    const f = tagged().find((x) => x.kind === 'oci-image')!
    const res = await skopeo(['inspect', `oci:${join(exportRoot, f.repo)}:${f.tag}`])
    expect(res.ok, res.stderr).toBe(true)
    const out = JSON.parse(res.stdout.toString('utf8')) as { Digest: string; Layers: string[]; Os: string }
    expect(out.Digest).toBe(f.digest)
    expect(out.Os).toBe('linux')
    expect(out.Layers).toEqual(f.blobs.slice(1))
  })

  it('imports the layout into a fresh registry with every digest preserved', async () => {
    await copyTagged(new OciLayoutRegistry(exportRoot, { mode: 'multi' }), http(dst))
    for (const f of fixtures) {
      // an independent client reads the target
      const m = await getManifest(dst.url, f.repo, f.tag ?? f.digest)
      expect(m.digest, `${f.kind} ${f.repo}:${f.tag ?? f.digest}`).toBe(f.digest)
      const source = await getManifest(src.url, f.repo, f.digest)
      expect(m.bytes.equals(source.bytes)).toBe(true)
      for (const blob of f.blobs) expect((await headBlob(dst.url, f.repo, blob)).exists, blob).toBe(true)
    }
    for (const repo of repos()) {
      expect((await listTags(dst.url, repo)).sort()).toEqual((await listTags(src.url, repo)).sort())
    }
  })

  it('a second export and import change nothing', async () => {
    const layout = new OciLayoutRegistry(exportRoot, { mode: 'multi' })
    const before = await Promise.all(repos().map((r) => readFile(join(exportRoot, r, 'index.json'), 'utf8')))
    for (const f of tagged()) {
      expect((await copy(http(src), layout, f)).status).toBe('skipped')
      expect((await copy(layout, http(dst), f)).status).toBe('skipped')
    }
    const after = await Promise.all(repos().map((r) => readFile(join(exportRoot, r, 'index.json'), 'utf8')))
    expect(after).toEqual(before)
  })

  it('single mode: one repository per layout, with referrers found through sha256-<hex> tags', async () => {
    const v1 = fixtures.find((f) => f.kind === 'oci-image' && f.tag === 'v1')!
    const sbom = fixtures.find((f) => f.kind === 'referrer')!
    const sig = fixtures.find((f) => f.kind === 'cosign-signature')!
    const fallback = fixtures.find((f) => f.kind === 'referrers-tag-index')!
    const single = new OciLayoutRegistry(join(dir, 'single'), { mode: 'single' })
    const out = await copyImage(
      {
        src: http(src),
        srcRepo: v1.repo,
        srcRef: 'v1',
        dst: single,
        dstRepo: '',
        dstTag: 'v1',
        override: false,
        dryRun: false,
        referrers: true,
      },
      deps(),
    )
    expect(out.digest).toBe(v1.digest)
    expect((await single.listTags('')).sort()).toEqual([fallback.tag!, sig.tag!, 'v1'].sort())
    expect((await single.headManifest('', sig.tag!))?.digest).toBe(sig.digest)
    expect((await single.headManifest('', sbom.digest))?.digest).toBe(sbom.digest)
    const idx = await single.getManifest('', fallback.tag!)
    expect(
      JSON.parse(idx.bytes.toString('utf8')).manifests.map((m: { digest: string }) => m.digest),
    ).toContain(sbom.digest)
    const raw = await skopeo(['inspect', '--raw', `oci:${join(dir, 'single')}:v1`])
    expect(raw.ok, raw.stderr).toBe(true)
    expect(sha256Digest(raw.stdout)).toBe(v1.digest)
  })

  it('reads a layout that skopeo wrote, and imports it with the digest preserved', async () => {
    const f = fixtures.find((x) => x.kind === 'oci-index')!
    const layoutDir = join(dir, 'by-skopeo')
    const res = await skopeo([
      'copy',
      '--all',
      '--preserve-digests',
      '--src-tls-verify=false',
      '--src-no-creds',
      `docker://${src.host}/${f.repo}:${f.tag}`,
      `oci:${layoutDir}:${f.tag}`,
    ])
    expect(res.ok, res.stderr).toBe(true)
    const layout = new OciLayoutRegistry(layoutDir, { mode: 'single' })
    expect(await layout.listTags('')).toEqual([f.tag])
    expect((await layout.headManifest('', f.tag!))?.digest).toBe(f.digest)
    const out = await copyImage(
      {
        src: layout,
        srcRepo: '',
        srcRef: f.tag!,
        dst: http(dst),
        dstRepo: 'from-skopeo/app',
        dstTag: f.tag,
        override: false,
        dryRun: false,
        referrers: false,
      },
      deps(),
    )
    expect(out.status).toBe('synced')
    expect((await getManifest(dst.url, 'from-skopeo/app', f.tag!)).digest).toBe(f.digest)
    // and skopeo still reads the layout after imgsync adds a tag to it
    await layout.putManifest('', 'again', (await layout.getManifest('', f.tag!)).bytes, MediaTypes.ociIndex)
    const raw = await skopeo(['inspect', '--raw', `oci:${layoutDir}:again`])
    expect(raw.ok, raw.stderr).toBe(true)
    expect(sha256Digest(raw.stdout)).toBe(f.digest)
  })
})
