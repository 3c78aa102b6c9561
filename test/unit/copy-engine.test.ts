import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { type CopyOutcome, type CopyRequest, copyImage } from '../../src/copy/copy-image.js'
import { ReferrerFinder } from '../../src/copy/referrers.js'
import { ImgsyncError } from '../../src/errors.js'
import { DEFAULT_RETRIES } from '../../src/registry/retry-policy.js'
import { copyBetween, quickCopier } from '../support/copy-request.js'
import { MemoryRegistry, MT, type SeededImage } from '../support/memory-registry.js'
import { rejection } from '../support/rejection.js'

const layer = (n = 100) => randomBytes(n)

function newCopier(concurrency = 4) {
  return quickCopier(concurrency)
}

function setup() {
  const { src, dst, req } = copyBetween()
  const blobs = newCopier()
  const copy = (over: Partial<CopyRequest> = {}, copier = blobs) =>
    copyImage(req(over), { blobs: copier, referrers: new ReferrerFinder() })
  return { src, dst, blobs, req, copy }
}

/** index of the first log line matching */
function at(log: string[], line: string): number {
  const i = log.indexOf(line)
  expect(i, `${line} in log`).toBeGreaterThanOrEqual(0)
  return i
}

function putBlobsOf(reg: MemoryRegistry, digest: string): string[] {
  return reg.ops('putBlob').filter((l) => l.split(' ')[2] === digest)
}

function expectImageAt(
  dst: MemoryRegistry,
  repo: string,
  img: SeededImage,
  src: MemoryRegistry,
  srcRepo: string,
) {
  expect(dst.manifestBytes(repo, img.digest)?.equals(img.bytes)).toBe(true)
  for (const b of img.blobs)
    expect(dst.blobBytes(repo, b.digest)?.equals(src.blobBytes(srcRepo, b.digest)!)).toBe(true)
}

describe('copyImage: images', () => {
  it('copies an image byte-exact under the same digest', async () => {
    const { src, dst, copy } = setup()
    const img = src.seedImage('app', '1.0', { layers: [layer(300), layer(50)] })
    const out = await copy()
    expect(out).toMatchObject({
      status: 'synced',
      digest: img.digest,
      mediaType: MT.ociManifest,
      kind: 'image',
      manifests: 1,
    })
    expect(out.blobs).toEqual({
      copied: 3,
      mounted: 0,
      skipped: 0,
      bytes: img.blobs.reduce((n, b) => n + b.size, 0),
    })
    expect(dst.tagDigest('mirror/app', '1.0')).toBe(img.digest)
    expect(dst.manifestBytes('mirror/app', '1.0')?.equals(img.bytes)).toBe(true)
    expectImageAt(dst, 'mirror/app', img, src, 'app')
    expect((await dst.getManifest('mirror/app', '1.0')).mediaType).toBe(MT.ociManifest)
  })

  it('keeps Docker schema 2 media types', async () => {
    const { src, dst, copy } = setup()
    const img = src.seedImage('app', '1.0', { layers: [layer()], format: 'docker' })
    const out = await copy()
    expect(out.mediaType).toBe(MT.dockerManifest)
    expect(dst.tagDigest('mirror/app', '1.0')).toBe(img.digest)
    expect((await dst.headManifest('mirror/app', '1.0'))?.mediaType).toBe(MT.dockerManifest)
  })

  it('pushes every blob before the manifest, and the tag last', async () => {
    const { src, dst, copy } = setup()
    const img = src.seedImage('app', '1.0', { layers: [layer(), layer(), layer()] })
    await copy()
    const writes = dst.writes()
    const manifestAt = at(writes, 'putManifest mirror/app 1.0')
    for (const b of img.blobs) expect(at(writes, `putBlob mirror/app ${b.digest}`)).toBeLessThan(manifestAt)
    expect(writes.at(-1)).toBe('putManifest mirror/app 1.0')
    expect(dst.count('putManifest')).toBe(1)
    expect(dst.count('putBlob')).toBe(4)
  })

  it('leaves foreign layers (with urls) out and still pushes the manifest unchanged', async () => {
    const { src, dst, copy } = setup()
    const foreign = {
      mediaType: MT.dockerForeignLayer,
      digest: `sha256:${'f'.repeat(64)}`,
      size: 12345,
      urls: ['https://mcr.microsoft.com/v2/x/blobs/sha256:fff'],
    }
    const img = src.seedImage('app', '1.0', { layers: [layer()], format: 'docker', foreignLayers: [foreign] })
    const out = await copy()
    expect(out.status).toBe('synced')
    expect(out.blobs.copied).toBe(2)
    expect(src.count('getBlob', 'app', foreign.digest)).toBe(0)
    expect(dst.hasBlobNow('mirror/app', foreign.digest)).toBe(false)
    expect(dst.manifestBytes('mirror/app', '1.0')?.equals(img.bytes)).toBe(true)
  })

  it('pushes by digest only when no target tag is given', async () => {
    const { src, dst, copy } = setup()
    const img = src.seedImage('app', '1.0', { layers: [layer()] })
    const out = await copy({ dstTag: undefined })
    expect(out.status).toBe('synced')
    expect(dst.tags('mirror/app')).toEqual([])
    expect(dst.ops('putManifest')).toEqual([`putManifest mirror/app ${img.digest}`])
    expect((await copy({ dstTag: undefined })).status).toBe('skipped')
  })

  it('copies by source digest', async () => {
    const { src, dst, copy } = setup()
    const img = src.seedImage('app', '1.0', { layers: [layer()] })
    const out = await copy({ srcRef: img.digest, dstTag: 'pinned' })
    expect(out.digest).toBe(img.digest)
    expect(dst.tagDigest('mirror/app', 'pinned')).toBe(img.digest)
  })

  it('fails NOT_FOUND when the source tag is missing, touching nothing at the target', async () => {
    const { src, dst, copy } = setup()
    src.seedImage('app', '1.0', { layers: [layer()] })
    const err = await rejection(copy({ srcRef: 'nope' }))
    expect(err.code).toBe('NOT_FOUND')
    expect(err.message).toContain('app:nope')
    // the target tag is looked up alongside the source (a read), but nothing is written
    expect(dst.writes()).toEqual([])
  })

  it('skips blobs the target repository already holds', async () => {
    const { src, dst, copy } = setup()
    const shared = layer()
    const img = src.seedImage('app', '1.0', { layers: [shared, layer()] })
    dst.seedBlob('mirror/app', shared)
    const out = await copy()
    expect(out.blobs).toMatchObject({ copied: 2, skipped: 1, mounted: 0 })
    expect(src.count('getBlob', 'app', img.layers[0]!.digest)).toBe(0)
  })

  it('mounts instead of streaming when source and target are the same registry', async () => {
    const reg = new MemoryRegistry('one.example')
    const img = reg.seedImage('app', '1.0', { layers: [layer(), layer()] })
    const out = await copyImage(
      {
        src: reg,
        srcRepo: 'app',
        srcRef: '1.0',
        dst: reg,
        dstRepo: 'copy/app',
        dstTag: '1.0',
        override: false,
        dryRun: false,
      },
      { blobs: newCopier(), referrers: new ReferrerFinder() },
    )
    expect(out.status).toBe('synced')
    expect(out.blobs).toMatchObject({ copied: 0, mounted: 3, bytes: 0 })
    expect(reg.count('getBlob')).toBe(0)
    expect(reg.count('putBlob')).toBe(0)
    expect(reg.tagDigest('copy/app', '1.0')).toBe(img.digest)
  })
})

describe('copyImage: indexes', () => {
  it.each([
    ['OCI index', 'oci' as const, MT.ociIndex],
    ['Docker manifest list', 'docker' as const, MT.dockerList],
  ])('copies a %s and its children byte-exact', async (_name, format, mediaType) => {
    const { src, dst, copy } = setup()
    const shared = layer()
    const idx = src.seedIndex('app', '1.0', {
      format,
      images: [
        { layers: [shared, layer()], platform: { os: 'linux', architecture: 'amd64' } },
        { layers: [shared, layer()], platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
    })
    const out = await copy()
    expect(out).toMatchObject({
      status: 'synced',
      digest: idx.digest,
      mediaType,
      kind: 'image',
      manifests: 3,
    })
    expect(dst.tagDigest('mirror/app', '1.0')).toBe(idx.digest)
    expect(dst.manifestBytes('mirror/app', idx.digest)?.equals(idx.bytes)).toBe(true)
    for (const child of idx.children) expectImageAt(dst, 'mirror/app', child, src, 'app')
    // the layer both children share crossed once
    expect(putBlobsOf(dst, idx.children[0]!.layers[0]!.digest)).toHaveLength(1)
  })

  it('accepts an index without mediaType in its JSON', async () => {
    const { src, dst, copy } = setup()
    const idx = src.seedIndex('app', '1.0', { omitMediaType: true, images: [{ layers: [layer()] }] })
    const out = await copy()
    expect(out.status).toBe('synced')
    expect(dst.manifestBytes('mirror/app', '1.0')?.equals(idx.bytes)).toBe(true)
  })

  it('pushes blobs before their child manifest, children before the index, and the tag last', async () => {
    const { src, dst, copy } = setup()
    const idx = src.seedIndex('app', '1.0', {
      images: [
        { layers: [layer(), layer()] },
        { layers: [layer()] },
        { layers: [layer(), layer(), layer()] },
      ],
    })
    await copy()
    const writes = dst.writes()
    const tagAt = at(writes, 'putManifest mirror/app 1.0')
    expect(tagAt).toBe(writes.length - 1)
    for (const child of idx.children) {
      const childAt = at(writes, `putManifest mirror/app ${child.digest}`)
      expect(childAt).toBeLessThan(tagAt)
      for (const b of child.blobs) expect(at(writes, `putBlob mirror/app ${b.digest}`)).toBeLessThan(childAt)
    }
    expect(dst.count('putManifest')).toBe(4)
  })

  it('does not fetch or re-push a child the target already holds', async () => {
    const { src, dst, copy } = setup()
    const idx = src.seedIndex('app', '1.0', { images: [{ layers: [layer()] }, { layers: [layer()] }] })
    const [have, missing] = idx.children as [SeededImage, SeededImage]
    for (const b of have.blobs) dst.seedBlob('mirror/app', src.blobBytes('app', b.digest)!)
    dst.seedManifest('mirror/app', undefined, have.bytes, have.mediaType)
    const out = await copy()
    expect(out.status).toBe('synced')
    expect(out.manifests).toBe(2)
    expect(src.count('getManifest', 'app', have.digest)).toBe(0)
    for (const b of have.blobs) expect(src.count('getBlob', 'app', b.digest)).toBe(0)
    expect(dst.count('putManifest', 'mirror/app', have.digest)).toBe(0)
    expect(dst.count('putManifest', 'mirror/app', missing.digest)).toBe(1)
  })
})

describe('copyImage: what is at the target', () => {
  it('skips a second copy without reading any blob', async () => {
    const { src, dst, copy } = setup()
    const img = src.seedImage('app', '1.0', { layers: [layer(), layer()] })
    await copy()
    src.clearLog()
    dst.clearLog()
    const out = await copy()
    expect(out).toMatchObject({ status: 'skipped', digest: img.digest, reason: 'same digest', manifests: 0 })
    expect(out.blobs).toEqual({ copied: 0, mounted: 0, skipped: 0, bytes: 0 })
    expect(src.count('getBlob')).toBe(0)
    expect(src.count('getManifest')).toBe(0)
    expect(dst.writes()).toEqual([])
  })

  it('refuses to replace a different image under the tag without override', async () => {
    const { src, dst, copy } = setup()
    src.seedImage('app', '1.0', { layers: [layer()] })
    const other = dst.seedImage('mirror/app', '1.0', { layers: [layer()] })
    const err = await rejection(copy())
    expect(err.code).toBe('IMAGE_EXISTS')
    expect(err.message).toContain('dst.example/mirror/app:1.0')
    expect(err.suggestions.join(' ')).toMatch(/override/)
    expect(dst.tagDigest('mirror/app', '1.0')).toBe(other.digest)
    expect(dst.writes()).toEqual([])
    expect(src.count('getBlob')).toBe(0)
  })

  it('replaces it with override', async () => {
    const { src, dst, copy } = setup()
    const img = src.seedImage('app', '1.0', { layers: [layer()] })
    dst.seedImage('mirror/app', '1.0', { layers: [layer()] })
    const out = await copy({ override: true })
    expect(out.status).toBe('synced')
    expect(dst.tagDigest('mirror/app', '1.0')).toBe(img.digest)
    expect(dst.manifestBytes('mirror/app', '1.0')?.equals(img.bytes)).toBe(true)
  })

  it('dry run: plans, reads no blob, writes nothing', async () => {
    const { src, dst, copy } = setup()
    const img = src.seedImage('app', '1.0', { layers: [layer(), layer()] })
    const out = await copy({ dryRun: true })
    expect(out).toMatchObject({ status: 'planned', digest: img.digest, reason: 'would copy', manifests: 0 })
    expect(dst.writes()).toEqual([])
    expect(src.count('getBlob')).toBe(0)
    expect(dst.tags('mirror/app')).toEqual([])
  })

  it('dry run with override over a different image: plans the replacement, changes nothing', async () => {
    const { src, dst, copy } = setup()
    src.seedImage('app', '1.0', { layers: [layer()] })
    const other = dst.seedImage('mirror/app', '1.0', { layers: [layer()] })
    const out = await copy({ dryRun: true, override: true })
    expect(out).toMatchObject({ status: 'planned', reason: 'would replace (override)' })
    expect(dst.writes()).toEqual([])
    expect(dst.tagDigest('mirror/app', '1.0')).toBe(other.digest)
  })
})

describe('copyImage: types filter', () => {
  it('excludes an image when only helm is wanted, touching nothing at the target', async () => {
    const { src, dst, copy } = setup()
    const img = src.seedImage('app', '1.0', { layers: [layer()] })
    const out = await copy({ types: ['helm'] })
    expect(out).toMatchObject({ status: 'excluded', kind: 'image', digest: img.digest, manifests: 0 })
    expect(out.reason).toMatch(/image/)
    expect(dst.log).toEqual([])
    expect(src.count('getBlob')).toBe(0)
  })

  it('excludes a chart from an image-only copy and copies it when helm is wanted', async () => {
    const { src, dst, copy } = setup()
    const chart = src.seedImage('app', '1.0', {
      layers: [layer()],
      config: Buffer.from('{"name":"app","version":"1.0"}'),
      configMediaType: MT.helmConfig,
    })
    expect(await copy({ types: ['image'] })).toMatchObject({ status: 'excluded', kind: 'helm' })
    expect(dst.writes()).toEqual([])
    const out = await copy({ types: ['image', 'helm'] })
    expect(out).toMatchObject({ status: 'synced', kind: 'helm' })
    expect(dst.tagDigest('mirror/app', '1.0')).toBe(chart.digest)
  })
})

describe('copyImage: damaged or failing source blobs', () => {
  it('a corrupted blob fails DIGEST_MISMATCH and no manifest or tag reaches the target', async () => {
    const { src, dst, copy } = setup()
    const img = src.seedImage('app', '1.0', { layers: [layer(200), layer(200)] })
    const bad = img.layers[1]!.digest
    src.corruptBlob(bad)
    const err = await rejection(copy())
    expect(err.code).toBe('DIGEST_MISMATCH')
    expect(dst.count('putManifest')).toBe(0)
    expect(dst.tags('mirror/app')).toEqual([])
    expect(dst.hasBlobNow('mirror/app', bad)).toBe(false)
    // one attempt budget: the first read and at most IMGSYNC_RETRIES (default 3) more
    const reads = src.count('getBlob', 'app', bad)
    expect(reads).toBeGreaterThanOrEqual(1)
    expect(reads).toBeLessThanOrEqual(1 + DEFAULT_RETRIES)
  })

  it('a corrupted blob in one child of an index: neither that child nor the index nor the tag is pushed', async () => {
    const { src, dst, copy } = setup()
    const idx = src.seedIndex('app', '1.0', { images: [{ layers: [layer()] }, { layers: [layer()] }] })
    const damaged = idx.children[1]!
    src.corruptBlob(damaged.layers[0]!.digest)
    const err = await rejection(copy())
    expect(err.code).toBe('DIGEST_MISMATCH')
    expect(dst.count('putManifest', 'mirror/app', damaged.digest)).toBe(0)
    expect(dst.count('putManifest', 'mirror/app', '1.0')).toBe(0)
    expect(dst.count('putManifest', 'mirror/app', idx.digest)).toBe(0)
    expect(dst.tags('mirror/app')).toEqual([])
  })

  it('retries a blob that arrived damaged once, and stores the right bytes', async () => {
    const { src, dst, copy } = setup()
    const img = src.seedImage('app', '1.0', { layers: [layer()] })
    const d = img.layers[0]!.digest
    src.corruptBlob(d, 1)
    const out = await copy()
    expect(out.status).toBe('synced')
    expect(src.count('getBlob', 'app', d)).toBe(2)
    expect(dst.blobBytes('mirror/app', d)?.equals(src.blobBytes('app', d)!)).toBe(true)
  })

  it('retries a temporary read failure, but not a permanent one', async () => {
    const { src, dst, copy } = setup()
    const img = src.seedImage('app', '1.0', { layers: [layer()] })
    const d = img.layers[0]!.digest
    src.failGetBlob(d, new ImgsyncError('NETWORK', 'reset', { temporary: true }), 1)
    expect((await copy()).status).toBe('synced')
    expect(src.count('getBlob', 'app', d)).toBe(2)

    const s2 = setup()
    const img2 = s2.src.seedImage('app', '1.0', { layers: [layer()] })
    const d2 = img2.layers[0]!.digest
    s2.src.failGetBlob(d2, new ImgsyncError('DENIED', 'no pull'))
    const err = await rejection(s2.copy())
    expect(err.code).toBe('DENIED')
    expect(s2.src.count('getBlob', 'app', d2)).toBe(1)
    expect(s2.dst.count('putManifest')).toBe(0)
    expect(dst.tags('mirror/app')).toEqual(['1.0'])
  })
})

describe('copyImage: shared blobs under concurrency', () => {
  function twoImages(src: MemoryRegistry) {
    const shared = layer(400)
    const a = src.seedImage('app', 'a', { layers: [shared, layer()] })
    const b = src.seedImage('app', 'b', { layers: [shared, layer()] })
    return { a, b, shared: a.layers[0]!.digest }
  }

  it('uploads a layer shared by two images copied at once into one repository once', async () => {
    const { src, dst, copy } = setup()
    dst.setDelay('putBlob', 2)
    const { shared } = twoImages(src)
    const outs = await Promise.all([copy({ srcRef: 'a', dstTag: 'a' }), copy({ srcRef: 'b', dstTag: 'b' })])
    expect(outs.map((o) => o.status)).toEqual(['synced', 'synced'])
    expect(putBlobsOf(dst, shared)).toHaveLength(1)
    expect(src.count('getBlob', 'app', shared)).toBe(1)
    const total = (k: 'copied' | 'skipped' | 'mounted') =>
      outs.reduce((n, o: CopyOutcome) => n + o.blobs[k], 0)
    expect(total('copied')).toBe(5)
    expect(total('skipped')).toBe(1)
    expect(dst.tags('mirror/app')).toEqual(['a', 'b'])
  })

  it('(control) without a shared BlobCopier the same race uploads the layer twice', async () => {
    // proves the scenario above really overlaps: otherwise hasBlob alone would hide a missing dedup
    const { src, dst, copy } = setup()
    dst.setDelay('putBlob', 2)
    const { shared } = twoImages(src)
    await Promise.all([
      copy({ srcRef: 'a', dstTag: 'a' }, newCopier()),
      copy({ srcRef: 'b', dstTag: 'b' }, newCopier()),
    ])
    expect(putBlobsOf(dst, shared)).toHaveLength(2)
  })

  it('into two repositories of one target registry: uploaded once, mounted once', async () => {
    const { src, dst, copy } = setup()
    dst.setDelay('putBlob', 2)
    const { a, b, shared } = twoImages(src)
    const outs = await Promise.all([
      copy({ srcRef: 'a', dstRepo: 'team-a/app', dstTag: 'a' }),
      copy({ srcRef: 'b', dstRepo: 'team-b/app', dstTag: 'b' }),
    ])
    expect(outs.map((o) => o.status)).toEqual(['synced', 'synced'])
    const uploads = putBlobsOf(dst, shared)
    expect(uploads).toHaveLength(1)
    const uploadedTo = uploads[0]!.split(' ')[1]!
    const otherRepo = uploadedTo === 'team-a/app' ? 'team-b/app' : 'team-a/app'
    expect(dst.ops('mountBlob')).toEqual([`mountBlob ${otherRepo} ${shared} from=${uploadedTo}`])
    expect(src.count('getBlob', 'app', shared)).toBe(1)
    expect(outs[0]!.blobs.mounted + outs[1]!.blobs.mounted).toBe(1)
    expectImageAt(dst, 'team-a/app', a, src, 'app')
    expectImageAt(dst, 'team-b/app', b, src, 'app')
  })

  it('the same image into two repositories: every blob crosses once and is mounted into the other', async () => {
    const { src, dst, copy } = setup()
    dst.setDelay('putBlob', 1)
    const img = src.seedImage('app', '1.0', { layers: [layer(), layer()] })
    await Promise.all([copy({ dstRepo: 'r1/app' }), copy({ dstRepo: 'r2/app' })])
    expect(dst.count('putBlob')).toBe(3)
    expect(dst.count('mountBlob')).toBe(3)
    expect(src.count('getBlob')).toBe(3)
    expect(dst.tagDigest('r1/app', '1.0')).toBe(img.digest)
    expect(dst.tagDigest('r2/app', '1.0')).toBe(img.digest)
  })
})

describe('copyImage: the source referrers lookup', () => {
  /** `reg`'s `op` calls, noted in `order` when they start */
  function noteStarts(reg: MemoryRegistry, op: 'referrers' | 'listTags', order: string[]) {
    const original = reg[op].bind(reg) as (...a: string[]) => Promise<never>
    ;(reg as unknown as Record<string, unknown>)[op] = (...a: string[]) => {
      order.push(`${reg.name} ${op}`)
      return original(...a)
    }
  }

  it('starts beside the copy, not after the tag is pushed (round trips on a far link)', async () => {
    const { src, dst, copy } = setup()
    src.seedImage('app', '1.0', { layers: [layer(), layer()] })
    const order: string[] = []
    noteStarts(src, 'referrers', order)
    noteStarts(src, 'listTags', order)
    const put = dst.putManifest.bind(dst)
    dst.putManifest = async (...a: Parameters<typeof put>) => {
      const out = await put(...a)
      order.push(`dst put ${a[1]}`)
      return out
    }
    const out = await copy({ referrers: true })
    expect(out.status).toBe('synced')
    // the API and the tag list (cosign's tags) are both asked before the tag lands, each once
    expect(order.indexOf('src.example referrers')).toBeLessThan(order.indexOf('dst put 1.0'))
    expect(order.indexOf('src.example listTags')).toBeLessThan(order.indexOf('dst put 1.0'))
    expect(order.filter((o) => o.startsWith('src.example'))).toHaveLength(2)
  })

  it('a lookup that fails still fails the item, after the image is pushed, as it did when asked later', async () => {
    const { src, dst, copy } = setup()
    const img = src.seedImage('app', '1.0', { layers: [layer()] })
    src.referrers = async () => {
      throw new ImgsyncError('REGISTRY_ERROR', 'src.example: referrers: 500')
    }
    const err = await rejection(copy({ referrers: true }))
    expect(err).toMatchObject({ code: 'REGISTRY_ERROR' })
    expect(dst.tagDigest('mirror/app', '1.0')).toBe(img.digest)
  })

  it('is not started for a dry run or an image the types filter leaves out', async () => {
    const { src, copy } = setup()
    src.seedImage('app', '1.0', { layers: [layer()] })
    await copy({ referrers: true, dryRun: true })
    await copy({ referrers: true, types: ['helm'] })
    expect(src.count('referrers')).toBe(0)
    expect(src.count('listTags')).toBe(0)
  })
})
