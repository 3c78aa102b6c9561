import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pLimit from 'p-limit'
import { describe, expect, it } from 'vitest'
import { BlobCopier, MemoryBlobLocations } from '../../src/copy/blob-copier.js'
import { type CopyRequest, copyImage } from '../../src/copy/copy-image.js'
import { ReferrerFinder } from '../../src/copy/referrers.js'
import { FileTargetTags, NO_TARGET_TAGS, type TargetTags, targetTagsFor } from '../../src/copy/tag-cache.js'
import { copyBetween } from '../support/copy-request.js'
import { rejection } from '../support/rejection.js'

const layer = () => randomBytes(64)
const tempFile = () => join(mkdtempSync(join(tmpdir(), 'imgsync-tags-')), 'target-tags.tsv')

/** Each copy() is a new task (fresh per-task tag lists), sharing the remembered target tags. */
function setup(tags: TargetTags = new FileTargetTags(tempFile(), 3600)) {
  const { src, dst, req } = copyBetween()
  const copy = (over: Partial<CopyRequest> = {}, targetTags = tags) =>
    copyImage(req(over), {
      blobs: new BlobCopier(pLimit(4), new MemoryBlobLocations()),
      referrers: new ReferrerFinder(),
      targetTags,
    })
  return { src, dst, copy }
}

describe('remembered target tags in the copy engine', () => {
  it('a re-sync of an unchanged tag lists the target repository instead of asking for the tag', async () => {
    const { src, dst, copy } = setup()
    const img = src.seedImage('app', '1.0', { layers: [layer()] })
    expect((await copy()).status).toBe('synced')
    dst.clearLog()
    const out = await copy()
    expect(out).toMatchObject({
      status: 'skipped',
      digest: img.digest,
      reason: 'same digest (checked earlier)',
    })
    expect(dst.count('headManifest', 'mirror/app', '1.0')).toBe(0)
    expect(dst.count('listTags')).toBe(1)
    expect(dst.writes()).toEqual([])
  })

  it('a tag deleted at the target is asked for and copied again', async () => {
    const { src, dst, copy } = setup()
    const img = src.seedImage('app', '1.0', { layers: [layer()] })
    await copy()
    await dst.deleteManifest('mirror/app', img.digest)
    const out = await copy()
    expect(out.status).toBe('synced')
    expect(dst.tagDigest('mirror/app', '1.0')).toBe(img.digest)
  })

  it('a source tag that moved is checked at the target: IMAGE_EXISTS without override', async () => {
    const { src, dst, copy } = setup()
    const first = src.seedImage('app', '1.0', { layers: [layer()] })
    await copy()
    src.seedImage('app', '1.0', { layers: [layer()] })
    dst.clearLog()
    const err = await rejection(copy())
    expect(err.code).toBe('IMAGE_EXISTS')
    expect(dst.count('headManifest', 'mirror/app', '1.0')).toBe(1)
    expect(dst.tagDigest('mirror/app', '1.0')).toBe(first.digest)
  })

  it('a plain check (not only a push) is remembered', async () => {
    const { src, dst, copy } = setup()
    const layers = [layer()]
    const img = src.seedImage('app', '1.0', { layers })
    dst.seedImage('mirror/app', '1.0', { layers })
    expect(dst.tagDigest('mirror/app', '1.0')).toBe(img.digest)
    expect((await copy()).reason).toBe('same digest')
    expect((await copy()).reason).toBe('same digest (checked earlier)')
  })

  it('a dry run remembers nothing', async () => {
    const { src, dst, copy } = setup()
    const layers = [layer()]
    src.seedImage('app', '1.0', { layers })
    dst.seedImage('mirror/app', '1.0', { layers })
    expect((await copy({ dryRun: true })).reason).toBe('same digest')
    expect((await copy({ dryRun: true })).reason).toBe('same digest')
  })

  it('the trade-off: a listed tag another writer re-pointed is trusted until the window ends; a full check finds it', async () => {
    const { src, dst, copy } = setup()
    src.seedImage('app', '1.0', { layers: [layer()] })
    await copy()
    const other = dst.seedImage('mirror/app', '1.0', { layers: [layer()] })
    expect((await copy()).status).toBe('skipped')
    const err = await rejection(copy({}, NO_TARGET_TAGS))
    expect(err.code).toBe('IMAGE_EXISTS')
    expect(dst.tagDigest('mirror/app', '1.0')).toBe(other.digest)
  })
})

describe('FileTargetTags', () => {
  it('persists across instances and trusts an entry only within the window', () => {
    const file = tempFile()
    let now = 1_000_000
    const a = new FileTargetTags(file, 60, () => now)
    a.remember('r.example', 'app', '1.0', 'sha256:aa')
    a.flush()
    const b = new FileTargetTags(file, 60, () => now)
    expect(b.known('r.example', 'app', '1.0')).toBe('sha256:aa')
    expect(b.known('r.example', 'app', '2.0')).toBeUndefined()
    expect(b.known('other.example', 'app', '1.0')).toBeUndefined()
    now += 60
    expect(b.known('r.example', 'app', '1.0')).toBeUndefined()
  })

  it('the newest row for a tag wins; damaged rows are ignored', () => {
    const file = tempFile()
    writeFileSync(
      file,
      'r\tapp\t1.0\tsha256:old\t100\ngarbage\nr\tapp\t1.0\tsha256:new\t200\nr\tapp\t2.0\tsha256:x\tsoon\n',
    )
    const t = new FileTargetTags(file, 1000, () => 250)
    expect(t.known('r', 'app', '1.0')).toBe('sha256:new')
    expect(t.known('r', 'app', '2.0')).toBeUndefined()
  })

  it('appends what a task learnt in one write, and nothing when it learnt nothing', () => {
    const file = tempFile()
    const t = new FileTargetTags(file, 1000, () => 5)
    t.flush()
    expect(() => readFileSync(file)).toThrow()
    t.remember('r', 'app', '1.0', 'sha256:a')
    t.remember('r', 'app', '1.1', 'sha256:b')
    t.flush()
    expect(readFileSync(file, 'utf8')).toBe('r\tapp\t1.0\tsha256:a\t5\nr\tapp\t1.1\tsha256:b\t5\n')
  })

  it('IMGSYNC_TAG_CACHE=off, --full-check and the TTL setting', () => {
    const records = join(mkdtempSync(join(tmpdir(), 'imgsync-tags-')), 'records.jsonl')
    expect(targetTagsFor(records, {}, { IMGSYNC_TAG_CACHE: 'off' })).toBe(NO_TARGET_TAGS)
    expect(targetTagsFor(records, { fullCheck: true }, {})).toBe(NO_TARGET_TAGS)
    const zero = targetTagsFor(records, {}, { IMGSYNC_TAG_CACHE_TTL: '0' })
    zero.remember('r', 'app', '1.0', 'sha256:a')
    expect(zero.known('r', 'app', '1.0')).toBeUndefined()
    expect(() => targetTagsFor(records, {}, { IMGSYNC_TAG_CACHE_TTL: 'a day' })).toThrow(
      /IMGSYNC_TAG_CACHE_TTL="a day" is not a number of seconds/,
    )
    const day = targetTagsFor(records, {}, {})
    day.remember('r', 'app', '1.0', 'sha256:a')
    expect(day.known('r', 'app', '1.0')).toBe('sha256:a')
  })
})
