// The copy engine against a source that serves graphs no image has: every walk is bounded, every
// bound is an item-level coded error, and nothing the source merely claims is written to the target.
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { type CopyRequest, copyImage } from '../../src/copy/copy-image.js'
import { ReferrerFinder } from '../../src/copy/referrers.js'
import { LIMITS } from '../../src/registry/limits.js'
import type { Descriptor } from '../../src/registry/media-types.js'
import { copyBetween, quickCopier } from '../support/copy-request.js'
import { MemoryRegistry, MT } from '../support/memory-registry.js'
import { rejection } from '../support/rejection.js'

function setup(src?: MemoryRegistry) {
  const base = copyBetween()
  const from = src ?? base.src
  const copy = (over: Partial<CopyRequest> = {}) =>
    copyImage(base.req({ src: from, ...over }), {
      blobs: quickCopier(),
      referrers: new ReferrerFinder(),
      copied: new Map(),
    })
  return { src: from, dst: base.dst, copy }
}

const indexOf = (children: Descriptor[]) =>
  Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: children }))

describe('bounded graph walk', () => {
  it('an index listing one child many times fetches and pushes it once', async () => {
    const { src, dst, copy } = setup()
    const child = src.seedImage('app', undefined, { layers: [randomBytes(50)] })
    const desc = { mediaType: MT.ociManifest, digest: child.digest, size: child.size }
    src.seedManifest('app', '1.0', indexOf(new Array(500).fill(desc)), MT.ociIndex)
    expect((await copy()).status).toBe('synced')
    expect(src.count('getManifest', 'app', child.digest)).toBe(1)
    expect(dst.count('putManifest', 'mirror/app', child.digest)).toBe(1)
  })

  it('indexes nested deeper than the limit: LIMIT_EXCEEDED, and no tag at the target', async () => {
    const { src, dst, copy } = setup()
    const leaf = src.seedImage('app', undefined, { layers: [randomBytes(10)] })
    let top: Descriptor = { mediaType: MT.ociManifest, digest: leaf.digest, size: leaf.size }
    for (let i = 0; i <= LIMITS.indexDepth; i++)
      top = src.seedManifest('app', undefined, indexOf([top]), MT.ociIndex)
    src.seedManifest('app', '1.0', indexOf([top]), MT.ociIndex)
    const err = await rejection(copy())
    expect(err.code).toBe('LIMIT_EXCEEDED')
    expect(dst.tagDigest('mirror/app', '1.0')).toBeUndefined()
  })

  it('an index with more children than the limit: LIMIT_EXCEEDED before any child is fetched', async () => {
    const { src, dst, copy } = setup()
    const child = src.seedImage('app', undefined, { layers: [randomBytes(10)] })
    const desc = { mediaType: MT.ociManifest, digest: child.digest, size: child.size }
    src.seedManifest('app', '1.0', indexOf(new Array(LIMITS.indexChildren + 1).fill(desc)), MT.ociIndex)
    expect((await rejection(copy())).code).toBe('LIMIT_EXCEEDED')
    expect(src.count('getManifest', 'app', child.digest)).toBe(0)
    expect(dst.writes()).toEqual([])
  })

  it('child digests that are not digests: INVALID_REFERENCE, nothing asked for by that name', async () => {
    for (const digest of [`sha256:${'a'.repeat(64)}:/../../../victim/manifests/childpwn`, 'childtag', 'v1']) {
      const { src, dst, copy } = setup()
      src.seedManifest('app', '1.0', indexOf([{ mediaType: MT.ociManifest, digest, size: 10 }]), MT.ociIndex)
      expect((await rejection(copy())).code, digest).toBe('INVALID_REFERENCE')
      expect(
        src.log.some((l) => l.includes('childpwn') || l.endsWith(' childtag') || l.endsWith(' v1')),
      ).toBe(false)
      expect(dst.writes()).toEqual([])
    }
  })

  it('malformed manifests: MANIFEST_INVALID, never a crash', async () => {
    for (const text of [
      '{"schemaVersion":2,"layers":"oops"',
      '[]',
      'null',
      '{"manifests":[1,2]}',
      '{"layers":[{"digest":5}]}',
    ]) {
      const { src, dst, copy } = setup()
      src.seedManifest('app', '1.0', Buffer.from(text), MT.ociManifest)
      const err = await rejection(copy())
      expect(['MANIFEST_INVALID', 'INVALID_REFERENCE'], text).toContain(err.code)
      expect(dst.writes()).toEqual([])
    }
  })

  it('a layer declared larger than any blob is refused before a byte moves', async () => {
    const { src, dst, copy } = setup()
    const manifest = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: `sha256:${'1'.repeat(64)}`, size: 2 },
      layers: [{ mediaType: MT.ociLayer, digest: `sha256:${'2'.repeat(64)}`, size: 10 ** 15 }],
    }
    src.seedManifest('app', '1.0', Buffer.from(JSON.stringify(manifest)), MT.ociManifest)
    expect((await rejection(copy())).code).toBe('LIMIT_EXCEEDED')
    expect(src.count('getBlob')).toBe(0)
    expect(dst.count('putBlob')).toBe(0)
  })
})

/** A source whose referrers API says whatever the test wants. */
class LyingReferrers extends MemoryRegistry {
  lies = new Map<string, Descriptor[]>()
  override async referrers(repo: string, digest: string): Promise<Descriptor[] | undefined> {
    return this.lies.get(digest) ?? super.referrers(repo, digest)
  }
}

describe('bounded referrers', () => {
  it('a referrer of a referrer of … without end: LIMIT_EXCEEDED at the referrer depth', async () => {
    const src = new LyingReferrers('src.example')
    const { dst, copy } = setup(src)
    let subject = src.seedImage('app', '1.0', { layers: [randomBytes(10)] })
    for (let i = 0; i <= LIMITS.referrerDepth; i++) {
      subject = src.seedImage('app', undefined, {
        layers: [randomBytes(5)],
        artifactType: 'application/x-sig',
        subject: { mediaType: MT.ociManifest, digest: subject.digest, size: subject.size },
      })
    }
    const err = await rejection(copy({ referrers: true }))
    expect(err.code).toBe('LIMIT_EXCEEDED')
    expect(dst.count('putManifest')).toBeLessThanOrEqual(LIMITS.referrerDepth + 1)
  })

  it('a listed referrer whose subject is another image is not copied or indexed', async () => {
    const src = new LyingReferrers('src.example')
    const { dst, copy } = setup(src)
    const img = src.seedImage('app', '1.0', { layers: [randomBytes(10)] })
    const other = src.seedImage('app', 'other', { layers: [randomBytes(10)] })
    const foreign = src.seedImage('app', undefined, {
      layers: [randomBytes(5)],
      artifactType: 'application/x-sig',
      subject: { mediaType: MT.ociManifest, digest: other.digest, size: other.size },
    })
    src.lies.set(img.digest, [{ mediaType: MT.ociManifest, digest: foreign.digest, size: foreign.size }])
    const out = await copy({ referrers: true })
    expect(out.status).toBe('synced')
    expect(out.referrers).toBe(0)
    expect(dst.manifestBytes('mirror/app', foreign.digest)).toBeUndefined()
  })
})
