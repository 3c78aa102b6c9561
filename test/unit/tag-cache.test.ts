import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { Settings } from '../../src/cli/settings.js'
import { type CopyRequest, copyImage } from '../../src/copy/copy-image.js'
import { ReferrerFinder } from '../../src/copy/referrers.js'
import { FileTargetTags, NO_TARGET_TAGS, openTargetTags, type TargetTags } from '../../src/copy/tag-cache.js'
import { TsvLog } from '../../src/copy/tsv-log.js'
import { copyBetween, quickCopier } from '../support/copy-request.js'
import { MemoryRegistry } from '../support/memory-registry.js'
import { rejection } from '../support/rejection.js'

const layer = () => randomBytes(64)
const tempFile = () => join(mkdtempSync(join(tmpdir(), 'imgsync-tags-')), 'target-tags.tsv')

/**
 * Each copy() is a new task (fresh per-task tag lists) sharing the remembered target tags; by
 * default one of several items into the target repository (so listing its tags is worth it).
 */
function setup(tags: TargetTags = new FileTargetTags(tempFile(), 3600)) {
  const { src, dst, req } = copyBetween()
  const copy = (over: Partial<CopyRequest> = {}, targetTags = tags, severalItems = true) =>
    copyImage(req(over), {
      blobs: quickCopier(),
      referrers: new ReferrerFinder(),
      targetTags,
      listTargetTags: () => severalItems,
    })
  return { src, dst, copy, tags }
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

  it('the trade-off: a listed tag another writer re-pointed is trusted until the window ends; a full check finds it and is remembered', async () => {
    const file = tempFile()
    const { src, dst, copy } = setup(new FileTargetTags(file, 3600))
    src.seedImage('app', '1.0', { layers: [layer()] })
    await copy()
    const other = dst.seedImage('mirror/app', '1.0', { layers: [layer()] })
    expect((await copy()).status).toBe('skipped')
    const full = new FileTargetTags(file, 0) // --full-check: trusts nothing, records what it sees
    expect((await rejection(copy({}, full))).code).toBe('IMAGE_EXISTS')
    full.flush()
    // a plain run after the full check (a new process, reading the file) no longer skips
    expect((await rejection(copy({}, new FileTargetTags(file, 3600)))).code).toBe('IMAGE_EXISTS')
    expect(dst.tagDigest('mirror/app', '1.0')).toBe(other.digest)
  })

  it('what a check finds at the target replaces the remembered digest (source rolled back)', async () => {
    const { src, dst, copy } = setup()
    const layers = [layer()]
    src.seedImage('app', '1.0', { layers })
    await copy() // remembered: D1
    const other = dst.seedImage('mirror/app', '1.0', { layers: [layer()] }) // another writer: D2
    src.seedImage('app', '1.0', { layers: [layer()] }) // source moves to D3
    expect((await rejection(copy())).code).toBe('IMAGE_EXISTS') // the check saw D2
    src.seedImage('app', '1.0', { layers }) // source back at D1
    expect((await rejection(copy())).code).toBe('IMAGE_EXISTS')
    expect(dst.tagDigest('mirror/app', '1.0')).toBe(other.digest)
  })

  it('a single-item task asks with one HEAD instead of listing, and still remembers', async () => {
    const { src, dst, copy, tags } = setup()
    const img = src.seedImage('app', '1.0', { layers: [layer()] })
    await copy({}, undefined, false)
    dst.clearLog()
    expect((await copy({}, undefined, false)).reason).toBe('same digest')
    expect(dst.count('listTags')).toBe(0)
    expect(dst.count('headManifest', 'mirror/app', '1.0')).toBe(1)
    expect(tags.known('dst.example', 'mirror/app', '1.0')).toBe(img.digest)
  })

  it('a moved source tag is asked for with a HEAD (plus the one shared tag list of a task with several items)', async () => {
    const { src, dst, copy } = setup()
    src.seedImage('app', '1.0', { layers: [layer()] })
    await copy()
    src.seedImage('app', '1.0', { layers: [layer()] })
    dst.clearLog()
    expect((await copy({ override: true }, undefined, false)).status).toBe('synced')
    expect(dst.count('listTags')).toBe(0)
    expect(dst.count('headManifest', 'mirror/app', '1.0')).toBe(1)
    src.seedImage('app', '1.0', { layers: [layer()] })
    dst.clearLog()
    expect((await copy({ override: true })).status).toBe('synced')
    expect(dst.count('listTags')).toBe(1)
    expect(dst.count('headManifest', 'mirror/app', '1.0')).toBe(1)
  })

  it('an OCI layout target is never remembered: it is read every time', async () => {
    const { src, req } = copyBetween()
    // what an OCI layout backend declares
    const layout = new MemoryRegistry('oci:/media/usb', {
      capabilities: { rememberTags: false, mount: false },
    })
    const tags = new FileTargetTags(tempFile(), 3600)
    const copy = () =>
      copyImage(req({ dst: layout }), {
        blobs: quickCopier(),
        referrers: new ReferrerFinder(),
        targetTags: tags,
        listTargetTags: () => true,
      })
    src.seedImage('app', '1.0', { layers: [layer()] })
    await copy()
    expect((await copy()).reason).toBe('same digest')
    expect(tags.known('oci:/media/usb', 'mirror/app', '1.0')).toBeUndefined()
  })

  it('a failed copy remembers nothing for the tag', async () => {
    const { src, dst, copy, tags } = setup()
    const img = src.seedImage('app', '1.0', { layers: [layer()] })
    src.corruptBlob(img.blobs[1]!.digest)
    expect((await rejection(copy())).code).toBe('DIGEST_MISMATCH')
    expect(dst.tagDigest('mirror/app', '1.0')).toBeUndefined()
    expect(tags.known('dst.example', 'mirror/app', '1.0')).toBeUndefined()
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

  it('the newest observation for a tag wins, whatever the row order; damaged rows are ignored', () => {
    const file = tempFile()
    // another process's older observation can be appended after a newer one
    writeFileSync(
      file,
      'r\tapp\t1.0\tsha256:new\t200\ngarbage\nr\tapp\t1.0\tsha256:old\t100\nr\tapp\t2.0\tsha256:x\tsoon\n',
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
    // what a run opens for these settings (run-context.ts does the same)
    const targetTagsFor = (opts: { fullCheck?: boolean }, env: Record<string, string>) => {
      const caches = new Settings(env).caches(records)
      return openTargetTags(caches.targetTags, caches.targetTagsTtlSeconds, opts.fullCheck)
    }
    expect(targetTagsFor({}, { IMGSYNC_TAG_CACHE: 'off' })).toBe(NO_TARGET_TAGS)
    expect(targetTagsFor({}, { IMGSYNC_TAG_CACHE: 'false' })).toBe(NO_TARGET_TAGS)
    const full = targetTagsFor({ fullCheck: true }, {})
    full.remember('r', 'app', '1.0', 'sha256:a')
    expect(full.known('r', 'app', '1.0')).toBeUndefined()
    const zero = targetTagsFor({}, { IMGSYNC_TAG_CACHE_TTL: '0' })
    zero.remember('r', 'app', '1.0', 'sha256:a')
    expect(zero.known('r', 'app', '1.0')).toBeUndefined()
    expect(() => targetTagsFor({}, { IMGSYNC_TAG_CACHE_TTL: 'a day' })).toThrow(
      /IMGSYNC_TAG_CACHE_TTL="a day" is not a number of seconds/,
    )
    const day = targetTagsFor({}, {})
    day.remember('r', 'app', '1.0', 'sha256:a')
    expect(day.known('r', 'app', '1.0')).toBe('sha256:a')
  })
})

describe('TsvLog', () => {
  it('compaction reads the file again first, so rows another process appended meanwhile are merged', () => {
    const file = tempFile()
    const mine: string[] = []
    const log = new TsvLog(file, 2, 2, (f) => mine.push(f.join(' ')))
    log.load()
    const other = new TsvLog(file, 10, 2, () => {})
    other.add(['other', '1'])
    other.flush(() => [])
    expect(mine).toEqual([])
    for (let i = 0; i < 5; i++) log.add(['mine', String(i)]) // past twice maxRows: compaction
    // the owner's view: everything the file held when compacting, newest last
    log.flush(() => mine.map((l) => l.split(' ')))
    expect(mine).toEqual(['other 1', 'mine 0', 'mine 1', 'mine 2', 'mine 3', 'mine 4'])
    expect(readFileSync(file, 'utf8')).toBe('mine\t3\nmine\t4\n')
  })
})
