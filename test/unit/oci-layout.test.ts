import { createHash, randomBytes } from 'node:crypto'
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { copyImage } from '../../src/copy/copy-image.js'
import { ReferrerFinder } from '../../src/copy/referrers.js'
import { ImgsyncError } from '../../src/errors.js'
import type { Descriptor } from '../../src/registry/media-types.js'
import { OciLayoutRegistry, REF_NAME_ANNOTATION } from '../../src/registry/oci-layout.js'
import { quickCopier } from '../support/copy-request.js'
import { MemoryRegistry, MT } from '../support/memory-registry.js'
import { rejection, thrown } from '../support/rejection.js'

const isRoot = process.getuid?.() === 0

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`
}

function blobDesc(bytes: Buffer, mediaType: string = MT.ociLayer): Descriptor {
  return { mediaType, digest: sha256(bytes), size: bytes.length }
}

function chunks(bytes: Buffer, size = 5): Readable {
  const parts: Buffer[] = []
  for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size))
  return Readable.from(parts, { objectMode: false })
}

/** Puts `bytes` into `repo` of the layout as a blob of `mediaType`; returns its descriptor. */
async function putBlobOf(reg: OciLayoutRegistry, repo: string, bytes: Buffer, mediaType?: string) {
  const d = blobDesc(bytes, mediaType)
  await reg.putBlob(repo, d, chunks(bytes))
  return d
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const c of stream) parts.push(Buffer.from(c as Buffer))
  return Buffer.concat(parts)
}

interface IndexJson {
  schemaVersion: number
  mediaType: string
  manifests: Descriptor[]
}

async function indexJson(dir: string): Promise<IndexJson> {
  return JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'))
}

/** every file below dir, relative, sorted */
async function files(dir: string): Promise<string[]> {
  const out = (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name).slice(dir.length + 1))
  return out.sort()
}

/** pushes config + layer blobs and an image manifest; returns the manifest's descriptor and bytes */
async function pushImage(
  reg: OciLayoutRegistry,
  repo: string,
  tag: string | undefined,
  seed = randomBytes(16),
) {
  const layer = Buffer.concat([Buffer.from('layer '), seed])
  const config = Buffer.from(
    JSON.stringify({ os: 'linux', architecture: 'amd64', seed: seed.toString('hex') }),
  )
  const l = await putBlobOf(reg, repo, layer)
  const c = await putBlobOf(reg, repo, config, MT.ociConfig)
  // odd spacing on purpose: the stored bytes must be exactly these
  const bytes = Buffer.from(
    `${JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config: c, layers: [l] }, null, 3)}\n`,
  )
  const digest = sha256(bytes)
  const res = await reg.putManifest(repo, tag ?? digest, bytes, MT.ociManifest)
  return { digest, bytes, size: bytes.length, res, layer: l, config: c }
}

let tmp: string
beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'imgsync-oci-'))
})
afterEach(async () => {
  await chmod(tmp, 0o755).catch(() => undefined)
  await rm(tmp, { recursive: true, force: true })
})

describe('OciLayoutRegistry: layout creation', () => {
  it('names itself oci:<absolute root>', () => {
    const reg = new OciLayoutRegistry('relative/dir', { mode: 'single' })
    expect(reg.name).toBe(`oci:${join(process.cwd(), 'relative/dir')}`)
    expect(reg.root).toBe(join(process.cwd(), 'relative/dir'))
  })

  it('creates oci-layout and an empty index.json on the first write', async () => {
    const dir = join(tmp, 'new', 'layout')
    const reg = new OciLayoutRegistry(dir, { mode: 'single' })
    const bytes = Buffer.from('hello')
    await reg.putBlob('', blobDesc(bytes), chunks(bytes))
    expect(JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8'))).toEqual({
      imageLayoutVersion: '1.0.0',
    })
    expect(await indexJson(dir)).toEqual({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [],
    })
    expect(await files(dir)).toEqual([`blobs/sha256/${sha256(bytes).slice(7)}`, 'index.json', 'oci-layout'])
  })

  it('creates the layout inside an existing empty directory', async () => {
    const reg = new OciLayoutRegistry(tmp, { mode: 'single' })
    const img = await pushImage(reg, '', 'v1')
    expect((await indexJson(tmp)).manifests.map((d) => d.digest)).toEqual([img.digest])
  })

  it('reads a layout without touching it when nothing is written', async () => {
    const dir = join(tmp, 'absent')
    const reg = new OciLayoutRegistry(dir, { mode: 'single' })
    expect(await reg.headManifest('', 'v1')).toBeUndefined()
    expect(await reg.hasBlob('', sha256(Buffer.from('x')))).toBe(false)
    expect(await reg.listRepositories()).toEqual([])
    await expect(stat(dir)).rejects.toThrow()
  })
})

describe('OciLayoutRegistry: blobs', () => {
  it('putBlob, hasBlob and getBlob round-trip the exact bytes', async () => {
    const reg = new OciLayoutRegistry(tmp, { mode: 'single' })
    const bytes = randomBytes(10_000)
    const d = blobDesc(bytes)
    expect(await reg.hasBlob('', d.digest)).toBe(false)
    await reg.putBlob('', d, chunks(bytes, 333))
    expect(await reg.hasBlob('', d.digest)).toBe(true)
    expect(await readAll(await reg.getBlob('', d))).toEqual(bytes)
    expect(await readFile(join(tmp, 'blobs', 'sha256', d.digest.slice(7)))).toEqual(bytes)
  })

  it('stores sha512 blobs under blobs/sha512', async () => {
    const reg = new OciLayoutRegistry(tmp, { mode: 'single' })
    const bytes = Buffer.from('sha512 content')
    const hex = createHash('sha512').update(bytes).digest('hex')
    const d = { mediaType: MT.ociLayer, digest: `sha512:${hex}`, size: bytes.length }
    await reg.putBlob('', d, chunks(bytes))
    expect(await reg.hasBlob('', d.digest)).toBe(true)
    expect(await readFile(join(tmp, 'blobs', 'sha512', hex))).toEqual(bytes)
  })

  it('putBlob of the same digest twice keeps one file', async () => {
    const reg = new OciLayoutRegistry(tmp, { mode: 'single' })
    const bytes = Buffer.from('twice')
    await reg.putBlob('', blobDesc(bytes), chunks(bytes))
    await reg.putBlob('', blobDesc(bytes), chunks(bytes))
    expect((await files(tmp)).filter((f) => f.startsWith('blobs/'))).toHaveLength(1)
  })

  it('refuses content that does not match the descriptor and leaves no temporary file', async () => {
    const reg = new OciLayoutRegistry(tmp, { mode: 'single' })
    const bytes = Buffer.from('the real content')
    const d = blobDesc(bytes)
    const wrongDigest = await rejection(reg.putBlob('', d, chunks(Buffer.from('other content!!!'))))
    expect(wrongDigest.code).toBe('DIGEST_MISMATCH')
    const wrongSize = await rejection(reg.putBlob('', { ...d, size: d.size + 1 }, chunks(bytes)))
    expect(wrongSize.code).toBe('DIGEST_MISMATCH')
    expect(await reg.hasBlob('', d.digest)).toBe(false)
    expect(await files(tmp)).toEqual(['index.json', 'oci-layout'])
  })

  it('removes the temporary file when the body stream fails, and passes the error on', async () => {
    const reg = new OciLayoutRegistry(tmp, { mode: 'single' })
    const bytes = Buffer.from('will fail halfway')
    const boom = new ImgsyncError('DIGEST_MISMATCH', 'verify failed', { temporary: true })
    const body = new Readable({
      read() {
        this.push(bytes.subarray(0, 5))
        this.destroy(boom)
      },
    })
    const err = await rejection(reg.putBlob('', blobDesc(bytes), body))
    expect(err).toBe(boom)
    expect(await files(tmp)).toEqual(['index.json', 'oci-layout'])
  })

  it('getBlob of a missing blob is NOT_FOUND; a malformed digest is INVALID_REFERENCE', async () => {
    const reg = new OciLayoutRegistry(tmp, { mode: 'single' })
    await pushImage(reg, '', 'v1')
    const missing = await rejection(reg.getBlob('', blobDesc(Buffer.from('nope'))))
    expect(missing.code).toBe('NOT_FOUND')
    const bad = await rejection(reg.hasBlob('', 'sha256:../../etc/passwd'))
    expect(bad.code).toBe('INVALID_REFERENCE')
  })

  it('mountBlob never mounts; referrers has no API', async () => {
    const reg = new OciLayoutRegistry(tmp, { mode: 'single' })
    expect(await reg.mountBlob('', sha256(Buffer.from('a')), 'other')).toEqual({ mounted: false })
    expect(await reg.referrers('', sha256(Buffer.from('a')))).toBeUndefined()
  })
})

describe('OciLayoutRegistry: manifests', () => {
  it('putManifest by tag stores the bytes and adds a ref.name entry', async () => {
    const reg = new OciLayoutRegistry(tmp, { mode: 'single' })
    const img = await pushImage(reg, '', 'v1')
    expect(img.res).toEqual({ digest: img.digest, subjectHandled: false })
    expect((await indexJson(tmp)).manifests).toEqual([
      {
        mediaType: MT.ociManifest,
        digest: img.digest,
        size: img.size,
        annotations: { [REF_NAME_ANNOTATION]: 'v1' },
      },
    ])
    expect(await readFile(join(tmp, 'blobs', 'sha256', img.digest.slice(7)))).toEqual(img.bytes)
  })

  it('headManifest and getManifest by tag and by digest', async () => {
    const reg = new OciLayoutRegistry(tmp, { mode: 'single' })
    const img = await pushImage(reg, '', 'v1')
    const info = { digest: img.digest, mediaType: MT.ociManifest, size: img.size }
    expect(await reg.headManifest('', 'v1')).toEqual(info)
    expect(await reg.headManifest('', img.digest)).toEqual(info)
    expect(await reg.getManifest('', 'v1')).toEqual({ ...info, bytes: img.bytes })
    expect(await reg.getManifest('', img.digest)).toEqual({ ...info, bytes: img.bytes })
    expect(await reg.headManifest('', 'v2')).toBeUndefined()
    expect(await reg.headManifest('', sha256(Buffer.from('none')))).toBeUndefined()
    expect((await rejection(reg.getManifest('', 'v2'))).code).toBe('NOT_FOUND')
    expect((await rejection(reg.getManifest('', sha256(Buffer.from('none'))))).code).toBe('NOT_FOUND')
  })

  it('a manifest pushed by digest gets no index entry; its media type comes from its JSON', async () => {
    const reg = new OciLayoutRegistry(tmp, { mode: 'single' })
    const img = await pushImage(reg, '', undefined)
    expect((await indexJson(tmp)).manifests).toEqual([])
    expect(await reg.headManifest('', img.digest)).toEqual({
      digest: img.digest,
      mediaType: MT.ociManifest,
      size: img.size,
    })
    expect(await reg.listTags('')).toEqual([])
  })

  it('docker media types are stored as they are, in the file and in the index entry', async () => {
    const reg = new OciLayoutRegistry(tmp, { mode: 'single' })
    const c = await putBlobOf(reg, '', Buffer.from('{"os":"linux"}'), MT.dockerConfig)
    const bytes = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MT.dockerManifest, config: c, layers: [] }),
    )
    const child = sha256(bytes)
    await reg.putManifest('', child, bytes, MT.dockerManifest)
    const list = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.dockerList,
        manifests: [{ mediaType: MT.dockerManifest, digest: child, size: bytes.length }],
      }),
    )
    await reg.putManifest('', '1', list, MT.dockerList)
    expect((await indexJson(tmp)).manifests[0]!.mediaType).toBe(MT.dockerList)
    expect((await reg.headManifest('', '1'))?.mediaType).toBe(MT.dockerList)
    expect((await reg.headManifest('', child))?.mediaType).toBe(MT.dockerManifest)
    expect((await reg.getManifest('', child)).mediaType).toBe(MT.dockerManifest)
  })

  it('the index entry media type wins over the JSON for a digest lookup; artifactType is recorded', async () => {
    const reg = new OciLayoutRegistry(tmp, { mode: 'single' })
    const e = await putBlobOf(reg, '', Buffer.from('{}'), MT.ociEmpty)
    // no mediaType in the JSON (allowed): the index entry carries it
    const bytes = Buffer.from(
      JSON.stringify({ schemaVersion: 2, artifactType: 'application/x-test', config: e, layers: [] }),
    )
    await reg.putManifest('', 'art', bytes, MT.ociManifest)
    const entry = (await indexJson(tmp)).manifests[0]!
    expect(entry.artifactType).toBe('application/x-test')
    expect((await reg.headManifest('', sha256(bytes)))?.mediaType).toBe(MT.ociManifest)
  })

  it('re-tagging replaces the entry in place and keeps the old blob', async () => {
    const reg = new OciLayoutRegistry(tmp, { mode: 'single' })
    const a = await pushImage(reg, '', 'a')
    const v1 = await pushImage(reg, '', 'v1')
    await pushImage(reg, '', 'z')
    const v1b = await pushImage(reg, '', 'v1')
    const index = await indexJson(tmp)
    expect(index.manifests.map((d) => d.annotations?.[REF_NAME_ANNOTATION])).toEqual(['a', 'v1', 'z'])
    expect(index.manifests[1]!.digest).toBe(v1b.digest)
    expect((await reg.headManifest('', 'v1'))?.digest).toBe(v1b.digest)
    expect(await reg.hasBlob('', v1.digest)).toBe(true)
    expect((await reg.headManifest('', 'a'))?.digest).toBe(a.digest)
  })

  it('one digest may carry several tags', async () => {
    const reg = new OciLayoutRegistry(tmp, { mode: 'single' })
    const img = await pushImage(reg, '', 'v1')
    await reg.putManifest('', 'latest', img.bytes, MT.ociManifest)
    expect(await reg.listTags('')).toEqual(['v1', 'latest'])
    expect((await reg.headManifest('', 'latest'))?.digest).toBe(img.digest)
  })

  it('refuses a digest reference that does not match, a bad tag, non-JSON and missing blobs', async () => {
    const reg = new OciLayoutRegistry(tmp, { mode: 'single' })
    const img = await pushImage(reg, '', 'v1')
    const other = sha256(Buffer.from('other'))
    expect((await rejection(reg.putManifest('', other, img.bytes, MT.ociManifest))).code).toBe(
      'DIGEST_MISMATCH',
    )
    expect((await rejection(reg.putManifest('', '-bad', img.bytes, MT.ociManifest))).code).toBe(
      'INVALID_REFERENCE',
    )
    expect((await rejection(reg.putManifest('', 'x', Buffer.from('nope'), MT.ociManifest))).code).toBe(
      'UNSUPPORTED_MEDIA_TYPE',
    )
    const missing = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: blobDesc(Buffer.from('c')),
        layers: [],
      }),
    )
    const err = await rejection(reg.putManifest('', 'x', missing, MT.ociManifest))
    expect(err.code).toBe('REGISTRY_ERROR')
    expect(err.message).toContain(sha256(Buffer.from('c')))
    const orphanIndex = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [blobDesc(Buffer.from('m'))] }),
    )
    expect((await rejection(reg.putManifest('', 'x', orphanIndex, MT.ociIndex))).code).toBe('REGISTRY_ERROR')
    expect(await reg.listTags('')).toEqual(['v1'])
  })

  it('getManifest verifies the digest of what it read', async () => {
    const reg = new OciLayoutRegistry(tmp, { mode: 'single' })
    const img = await pushImage(reg, '', 'v1')
    await writeFile(
      join(tmp, 'blobs', 'sha256', img.digest.slice(7)),
      Buffer.from(img.bytes.toString().replace('2', '3')),
    )
    const err = await rejection(reg.getManifest('', 'v1'))
    expect(err.code).toBe('DIGEST_MISMATCH')
  })

  it('a tag whose blob is gone is not found', async () => {
    const reg = new OciLayoutRegistry(tmp, { mode: 'single' })
    const img = await pushImage(reg, '', 'v1')
    await rm(join(tmp, 'blobs', 'sha256', img.digest.slice(7)))
    expect(await reg.headManifest('', 'v1')).toBeUndefined()
    expect((await rejection(reg.getManifest('', 'v1'))).code).toBe('NOT_FOUND')
  })

  it('deleteManifest removes every entry for the digest and keeps the blob', async () => {
    const reg = new OciLayoutRegistry(tmp, { mode: 'single' })
    const img = await pushImage(reg, '', 'v1')
    await reg.putManifest('', 'latest', img.bytes, MT.ociManifest)
    const keep = await pushImage(reg, '', 'v2')
    await reg.deleteManifest('', img.digest)
    expect(await reg.listTags('')).toEqual(['v2'])
    expect((await indexJson(tmp)).manifests.map((d) => d.digest)).toEqual([keep.digest])
    expect(await reg.hasBlob('', img.digest)).toBe(true)
    expect(await reg.headManifest('', 'v1')).toBeUndefined()
    // already untagged, blob still there: nothing to do
    await reg.deleteManifest('', img.digest)
    const err = await rejection(reg.deleteManifest('', sha256(Buffer.from('never'))))
    expect(err.code).toBe('NOT_FOUND')
  })
})

describe('OciLayoutRegistry: listing', () => {
  it('listTags returns ref.name tags in index order, once each, leaving out non-tag names', async () => {
    const reg = new OciLayoutRegistry(tmp, { mode: 'single' })
    const img = await pushImage(reg, '', 'b')
    const d = { mediaType: MT.ociManifest, digest: img.digest, size: img.size }
    // as other tools may write it: a fully qualified name, an untagged entry, a duplicate
    await writeFile(
      join(tmp, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          { ...d, annotations: { [REF_NAME_ANNOTATION]: 'b' } },
          { ...d, annotations: { [REF_NAME_ANNOTATION]: 'docker.io/library/app:1.0' } },
          d,
          { ...d, annotations: { [REF_NAME_ANNOTATION]: 'a' } },
          { ...d, annotations: { [REF_NAME_ANNOTATION]: 'b' } },
        ],
      }),
    )
    expect(await reg.listTags('')).toEqual(['b', 'a'])
    expect((await reg.headManifest('', 'a'))?.digest).toBe(img.digest)
  })

  it('listTags of a missing layout is NOT_FOUND naming the path', async () => {
    const dir = join(tmp, 'nowhere')
    const err = await rejection(new OciLayoutRegistry(dir, { mode: 'single' }).listTags(''))
    expect(err.code).toBe('NOT_FOUND')
    expect(err.message).toContain(dir)
  })

  it('single mode ignores the repository argument and lists [""]', async () => {
    const reg = new OciLayoutRegistry(tmp, { mode: 'single' })
    const img = await pushImage(reg, 'ignored/name', 'v1')
    expect((await reg.headManifest('', 'v1'))?.digest).toBe(img.digest)
    expect((await reg.headManifest('anything', 'v1'))?.digest).toBe(img.digest)
    expect(await reg.listRepositories()).toEqual([''])
    expect(await files(tmp)).toContain('oci-layout')
  })

  it('multi mode keeps one layout per repository and lists them by relative path', async () => {
    const reg = new OciLayoutRegistry(tmp, { mode: 'multi' })
    const app = await pushImage(reg, 'team-a/app', 'v1')
    const deep = await pushImage(reg, 'team-a/sub/deep/svc', '1.0')
    await pushImage(reg, 'team-a', 'x')
    await pushImage(reg, 'zeta', 'z')
    // noise the walk must skip: hidden directories, plain directories, files
    await mkdir(join(tmp, '.cache', 'x'), { recursive: true })
    await writeFile(join(tmp, '.cache', 'x', 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
    await mkdir(join(tmp, 'empty', 'dir'), { recursive: true })
    await writeFile(join(tmp, 'README'), 'not a layout')
    expect(await reg.listRepositories()).toEqual(['team-a', 'team-a/app', 'team-a/sub/deep/svc', 'zeta'])
    expect(JSON.parse(await readFile(join(tmp, 'team-a', 'app', 'oci-layout'), 'utf8'))).toEqual({
      imageLayoutVersion: '1.0.0',
    })
    expect((await reg.headManifest('team-a/app', 'v1'))?.digest).toBe(app.digest)
    expect(await reg.headManifest('team-a/sub/deep/svc', 'v1')).toBeUndefined()
    expect((await reg.headManifest('team-a/sub/deep/svc', '1.0'))?.digest).toBe(deep.digest)
    expect(await reg.hasBlob('zeta', app.layer.digest)).toBe(false)
    expect(await reg.listTags('team-a')).toEqual(['x'])
  })

  it('multi mode refuses repository paths that leave the root', () => {
    const reg = new OciLayoutRegistry(tmp, { mode: 'multi' })
    for (const repo of ['', '../x', 'a/../../b', '/abs', 'a//b', '.hidden', 'a/.']) {
      expect(thrown(() => reg.layoutDir(repo)).code, repo).toBe('INVALID_ARGUMENT')
    }
    expect(reg.layoutDir('a/b')).toBe(join(tmp, 'a', 'b'))
  })

  it('multi listRepositories of a missing root is NOT_FOUND', async () => {
    const err = await rejection(
      new OciLayoutRegistry(join(tmp, 'none'), { mode: 'multi' }).listRepositories(),
    )
    expect(err.code).toBe('NOT_FOUND')
  })
})

describe('OciLayoutRegistry: concurrency and atomic writes', () => {
  it('20 concurrent putManifest calls with different tags all land in a valid index.json', async () => {
    const reg = new OciLayoutRegistry(join(tmp, 'fresh'), { mode: 'single' })
    const tags = Array.from({ length: 20 }, (_, i) => `t${i}`)
    const pushed = await Promise.all(tags.map((t) => pushImage(reg, '', t)))
    const index = await indexJson(join(tmp, 'fresh'))
    expect(index.manifests).toHaveLength(20)
    expect(new Set(index.manifests.map((d) => d.annotations?.[REF_NAME_ANNOTATION]))).toEqual(new Set(tags))
    for (const [i, t] of tags.entries())
      expect((await reg.headManifest('', t))?.digest).toBe(pushed[i]!.digest)
    expect(
      (await files(join(tmp, 'fresh'))).filter((f) => f.includes('tmp') || f.includes('index.json.')),
    ).toEqual([])
  })

  it('two instances over the same directory do not lose each other’s tags', async () => {
    const a = new OciLayoutRegistry(tmp, { mode: 'single' })
    const b = new OciLayoutRegistry(tmp, { mode: 'single' })
    const img = await pushImage(a, '', 'seed')
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 ? a : b).putManifest('', `x${i}`, img.bytes, MT.ociManifest),
      ),
    )
    expect((await a.listTags('')).sort()).toEqual(
      ['seed', ...Array.from({ length: 10 }, (_, i) => `x${i}`)].sort(),
    )
  })

  it('replaces index.json by rename, so readers never see a partial file', async () => {
    const reg = new OciLayoutRegistry(tmp, { mode: 'single' })
    const img = await pushImage(reg, '', 'v0')
    let reads = 0
    let writing = true
    const reader = (async () => {
      while (writing) {
        JSON.parse(await readFile(join(tmp, 'index.json'), 'utf8'))
        reads++
      }
    })()
    await Promise.all(
      Array.from({ length: 30 }, (_, i) => reg.putManifest('', `r${i}`, img.bytes, MT.ociManifest)),
    )
    writing = false
    await reader
    expect(reads).toBeGreaterThan(0)
    expect(await reg.listTags('')).toHaveLength(31)
    // one update: the new file was written beside the old one and renamed over it (a new inode)
    const before = (await stat(join(tmp, 'index.json'))).ino
    await reg.putManifest('', 'one-more', img.bytes, MT.ociManifest)
    expect((await stat(join(tmp, 'index.json'))).ino).not.toBe(before)
  })

  it('a refused manifest or a repeated tag push leaves index.json untouched', async () => {
    const reg = new OciLayoutRegistry(tmp, { mode: 'single' })
    const img = await pushImage(reg, '', 'v1')
    const before = await stat(join(tmp, 'index.json'))
    const text = await readFile(join(tmp, 'index.json'), 'utf8')
    const orphan = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [blobDesc(Buffer.from('m'))] }),
    )
    await rejection(reg.putManifest('', 'v2', orphan, MT.ociIndex))
    await reg.putManifest('', 'v1', img.bytes, MT.ociManifest)
    expect(await readFile(join(tmp, 'index.json'), 'utf8')).toBe(text)
    expect((await stat(join(tmp, 'index.json'))).ino).toBe(before.ino)
  })
})

describe('OciLayoutRegistry: errors', () => {
  it('reading a missing layout: head/has answer absent, get/list are NOT_FOUND naming the path', async () => {
    const dir = join(tmp, 'missing')
    const reg = new OciLayoutRegistry(dir, { mode: 'single' })
    expect(await reg.headManifest('', 'v1')).toBeUndefined()
    const reads = [
      () => reg.getManifest('', 'v1'),
      () => reg.listTags(''),
      () => reg.getBlob('', blobDesc(Buffer.from('x'))),
      () => reg.deleteManifest('', sha256(Buffer.from('x'))),
    ]
    for (const read of reads) {
      const err = await rejection(read())
      expect(err.code).toBe('NOT_FOUND')
      expect(err.message).toContain(dir)
    }
  })

  it('a layout another task is creating (only the temporary marker file so far) reads as empty, not foreign', async () => {
    await writeFile(join(tmp, 'oci-layout.1962604900'), '{"imageLayoutVersion":"1.0.0"}')
    const reg = new OciLayoutRegistry(tmp, { mode: 'single' })
    expect(await reg.headManifest('', 'v1')).toBeUndefined()
    expect(await reg.hasBlob('', sha256(Buffer.from('x')))).toBe(false)
  })

  it('a directory with files but no oci-layout is refused for reading and writing', async () => {
    await writeFile(join(tmp, 'index.json'), '{"schemaVersion":2,"manifests":[]}')
    const reg = new OciLayoutRegistry(tmp, { mode: 'single' })
    const read = await rejection(reg.headManifest('', 'v1'))
    expect(read.code).toBe('INVALID_ARGUMENT')
    expect(read.message).toContain('not an OCI image layout')
    expect(read.message).toContain(tmp)
    const bytes = Buffer.from('x')
    const write = await rejection(reg.putBlob('', blobDesc(bytes), chunks(bytes)))
    expect(write.code).toBe('INVALID_ARGUMENT')
    expect(await readdir(tmp)).toEqual(['index.json'])
  })

  it('a file where the directory should be is INVALID_ARGUMENT', async () => {
    await writeFile(join(tmp, 'file'), 'x')
    const reg = new OciLayoutRegistry(join(tmp, 'file'), { mode: 'single' })
    expect((await rejection(reg.listTags(''))).code).toBe('INVALID_ARGUMENT')
    const under = new OciLayoutRegistry(join(tmp, 'file', 'sub'), { mode: 'single' })
    const bytes = Buffer.from('x')
    expect((await rejection(under.putBlob('', blobDesc(bytes), chunks(bytes)))).code).toBe('INVALID_ARGUMENT')
  })

  it('an unsupported oci-layout version or a broken index.json is reported', async () => {
    await writeFile(join(tmp, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}')
    const reg = new OciLayoutRegistry(tmp, { mode: 'single' })
    expect((await rejection(reg.listTags(''))).code).toBe('UNSUPPORTED_MEDIA_TYPE')
    await writeFile(join(tmp, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
    await writeFile(join(tmp, 'index.json'), '{"manifests": [')
    const err = await rejection(new OciLayoutRegistry(tmp, { mode: 'single' }).listTags(''))
    expect(err.code).toBe('REGISTRY_ERROR')
    expect(err.message).toContain('index.json')
  })

  it('an unwritable directory is DENIED with a clear message', async () => {
    // root ignores mode bits, but sysfs refuses it a new directory (EPERM) all the same
    const parent = isRoot ? '/sys/imgsync-unwritable' : tmp
    if (!isRoot) await chmod(tmp, 0o555)
    const reg = new OciLayoutRegistry(join(parent, 'layout'), { mode: 'single' })
    const bytes = Buffer.from('x')
    const err = await rejection(reg.putBlob('', blobDesc(bytes), chunks(bytes)))
    expect(err.code).toBe('DENIED')
    expect(err.message).toContain('permission denied')
  })
})

describe('OciLayoutRegistry with the copy engine', () => {
  it('memory registry → layout → memory registry preserves digests of an image, an index and a docker list', async () => {
    const src = new MemoryRegistry('src.example')
    const back = new MemoryRegistry('back.example')
    const layout = new OciLayoutRegistry(tmp, { mode: 'multi' })
    const img = src.seedImage('app', '1.0', { layers: [randomBytes(50), randomBytes(70)] })
    const idx = src.seedIndex('app', 'multi', {
      images: [
        { layers: [randomBytes(30)], platform: { os: 'linux', architecture: 'amd64' } },
        { layers: [randomBytes(30)], platform: { os: 'linux', architecture: 'arm64' } },
      ],
    })
    const list = src.seedIndex('legacy/app', 'old', {
      format: 'docker',
      images: [{ layers: [randomBytes(30)], platform: { os: 'linux', architecture: 'amd64' } }],
    })
    const deps = () => ({
      blobs: quickCopier(),
      referrers: new ReferrerFinder(),
    })
    const jobs = [
      { repo: 'app', tag: '1.0', digest: img.digest },
      { repo: 'app', tag: 'multi', digest: idx.digest },
      { repo: 'legacy/app', tag: 'old', digest: list.digest },
    ]
    for (const j of jobs) {
      const out = await copyImage(
        {
          src,
          srcRepo: j.repo,
          srcRef: j.tag,
          dst: layout,
          dstRepo: j.repo,
          dstTag: j.tag,
          override: false,
          dryRun: false,
        },
        deps(),
      )
      expect(out.status).toBe('synced')
      expect(out.digest).toBe(j.digest)
    }
    expect(await layout.listRepositories()).toEqual(['app', 'legacy/app'])
    expect(await layout.listTags('app')).toEqual(['1.0', 'multi'])
    for (const j of jobs) {
      const out = await copyImage(
        {
          src: layout,
          srcRepo: j.repo,
          srcRef: j.tag,
          dst: back,
          dstRepo: j.repo,
          dstTag: j.tag,
          override: false,
          dryRun: false,
        },
        deps(),
      )
      expect(out.digest).toBe(j.digest)
      expect(back.tagDigest(j.repo, j.tag)).toBe(j.digest)
      expect(back.manifestBytes(j.repo, j.tag)).toEqual(src.manifestBytes(j.repo, j.tag))
    }
    expect(back.blobDigests('app')).toEqual(src.blobDigests('app'))
    // a second export is a no-op
    const again = await copyImage(
      {
        src,
        srcRepo: 'app',
        srcRef: 'multi',
        dst: layout,
        dstRepo: 'app',
        dstTag: 'multi',
        override: false,
        dryRun: false,
      },
      deps(),
    )
    expect(again.status).toBe('skipped')
  })
})
