import { describe, expect, it } from 'vitest'
import type { Plan } from '../../src/sync/plan.js'
import { whenPushVisible } from '../../src/triggers/push-visible.js'
import { MemoryRegistry, MT } from '../support/memory-registry.js'

function planFor(src: MemoryRegistry, tag: string): Plan {
  const item = {
    src,
    srcRepo: 'app',
    srcRef: tag,
    dst: src,
    dstRepo: 'm',
    dstTag: tag,
    source: '',
    target: '',
    tag,
  }
  return { items: [item], excluded: [], repositories: 1 }
}

const manifest = (n: number) => Buffer.from(JSON.stringify({ schemaVersion: 2, n }))

describe('whenPushVisible (distribution notifies before it writes the tag)', () => {
  it('waits until the tag answers with the pushed digest', async () => {
    const src = new MemoryRegistry('src.example')
    const old = src.seedManifest('app', '1.0', manifest(1), MT.ociManifest)
    const pushed = src.seedManifest('app', undefined, manifest(2), MT.ociManifest)
    setTimeout(() => src.seedManifest('app', '1.0', manifest(2), MT.ociManifest), 150)
    expect(src.tagDigest('app', '1.0')).toBe(old.digest)
    const plan = planFor(src, '1.0')
    expect(await whenPushVisible(plan, pushed.digest, { waitMs: 3_000 })).toBe(plan)
    expect(src.tagDigest('app', '1.0')).toBe(pushed.digest)
  })

  it('a tag that never shows: the plan runs after the wait (the item then fails NOT_FOUND)', async () => {
    const src = new MemoryRegistry('src.example')
    const t0 = Date.now()
    const plan = planFor(src, 'nope')
    expect(await whenPushVisible(plan, undefined, { waitMs: 200 })).toBe(plan)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100)
    expect(src.count('headManifest')).toBeGreaterThan(1)
  })

  it('an event without digest: any digest under the tag will do', async () => {
    const src = new MemoryRegistry('src.example')
    src.seedManifest('app', '1.0', manifest(1), MT.ociManifest)
    await whenPushVisible(planFor(src, '1.0'), undefined, { waitMs: 3_000 })
    expect(src.count('headManifest')).toBe(1)
  })

  it('a stop ends the wait at once', async () => {
    const src = new MemoryRegistry('src.example')
    const stop = new AbortController()
    setTimeout(() => stop.abort(), 50)
    const plan = planFor(src, 'nope')
    expect(await whenPushVisible(plan, undefined, { waitMs: 60_000, signal: stop.signal })).toBe(plan)
    expect(src.count('headManifest')).toBeLessThan(6)
  })
})
