// A host's two lanes: cheap requests and blob transfers are bounded apart, so uploads in flight
// never take the slots of the HEADs and manifests behind them; each lane shrinks on 429 and grows
// back on its own; transfers between two registries take both lanes in one order (no deadlock).
import pLimit from 'p-limit'
import { describe, expect, it } from 'vitest'
import type { BlobJob } from '../../src/copy/blob-job.js'
import { emptyBlobStats } from '../../src/copy/blob-job.js'
import { transferGate } from '../../src/copy/transfer-gate.js'
import type { RegistryApi } from '../../src/registry/api.js'
import { HostThrottle } from '../../src/registry/host-throttle.js'
import { laneLimits } from '../../src/sync/registries.js'
import { rejection } from '../support/rejection.js'

const tick = () => new Promise((r) => setTimeout(r, 5))

describe('HostThrottle lanes', () => {
  it('transfers in flight leave the request lane free, and are bounded by their own', async () => {
    const t = new HostThrottle('h', { requests: 2, blobs: 3 })
    const held = await Promise.all([t.transfer(), t.transfer(), t.transfer()])
    let fourth = false
    const waiting = t.transfer().then((free) => {
      fourth = true
      return free
    })
    // requests still get both of their slots while three transfers are in flight
    await t.acquire()
    await t.acquire()
    await tick()
    expect(fourth).toBe(false)
    held[0]!()
    held[0]!() // freeing twice frees once
    const free4 = await waiting
    expect(fourth).toBe(true)
    for (const free of [...held.slice(1), free4]) free()
    t.release('ok')
    t.release('ok')
  })

  it('an upload inside a transfer takes no request slot, and a 429 there halves only the blob lane', async () => {
    const t = new HostThrottle('h', { requests: 4, blobs: 4 })
    const free = await Promise.all([t.transfer(), t.transfer()])
    // the transfer's upload PUT/PATCH: the pause and ceiling apply, no lane slot is taken
    for (let i = 0; i < 10; i++) await t.acquire(undefined, Number.POSITIVE_INFINITY, 'none')
    t.note('limited', 'blobs')
    expect(t.laneLimit('blobs').now).toBe(1)
    expect(t.laneLimit('requests').now).toBe(4)
    expect(t.concurrency).toBe(4)
    for (const f of free) f()
  })

  it('a pause holds back transfers waiting for a slot as well as requests', async () => {
    const t = new HostThrottle('h', { requests: 1, blobs: 1 })
    const first = await t.transfer()
    t.pause(10_000)
    // a request waiting out a pause longer than its budget fails at once
    expect((await rejection(t.acquire(undefined, 50))).code).toBe('RATE_LIMITED')
    first()
  })

  it('a waiter whose run stops gives up at once and leaves the queue: a freed slot wakes the next', async () => {
    const t = new HostThrottle('h', { requests: 1, blobs: 1 })
    await t.acquire()
    const stop = new AbortController()
    const stopped = rejection(t.acquire(stop.signal))
    let next = false
    const waiting = t.acquire().then(() => {
      next = true
    })
    stop.abort()
    expect((await stopped).code).toBe('INTERRUPTED')
    t.release('ok')
    await waiting
    expect(next).toBe(true)
    t.release('ok')
    // the same for a transfer waiting for its slot
    const held = await t.transfer()
    const gone = new AbortController()
    const refused = rejection(t.transfer(gone.signal))
    gone.abort()
    expect((await refused).code).toBe('INTERRUPTED')
    held()
    ;(await t.transfer())()
  })

  it('many waiters under one stop signal: one listener on it, no MaxListeners warning, all end on a stop', async () => {
    const warnings: string[] = []
    const onWarning = (w: Error) => warnings.push(w.name)
    process.on('warning', onWarning)
    try {
      const t = new HostThrottle('h', { requests: 1, blobs: 1 })
      const held = await t.transfer()
      await t.acquire() // both lanes full: everything below waits
      const stop = new AbortController()
      const waiting = Array.from({ length: 40 }, () => rejection(t.transfer(stop.signal)))
      const requests = Array.from({ length: 40 }, () => rejection(t.acquire(stop.signal)))
      await tick()
      stop.abort()
      for (const e of await Promise.all([...waiting, ...requests])) expect(e.code).toBe('INTERRUPTED')
      await tick()
      expect(warnings).toEqual([])
      held()
      t.release('ok')
      // the lane is whole again: a new transfer gets the freed slot at once
      ;(await t.transfer())()
    } finally {
      process.off('warning', onWarning)
    }
  })

  it('lanes default to --concurrency blob transfers and four times that requests; a registry entry sets either', () => {
    expect(laneLimits(undefined, 8)).toEqual({ requests: 32, blobs: 8 })
    expect(laneLimits({ requests: 12 }, 8)).toEqual({ requests: 12, blobs: 8 })
    expect(laneLimits({ blobs: 2 }, 8)).toEqual({ requests: 32, blobs: 2 })
    expect(laneLimits({ requests: 2, blobs: 1 }, 8)).toEqual({ requests: 2, blobs: 1 })
    expect(laneLimits(undefined)).toEqual({ requests: 32, blobs: 8 })
    expect(laneLimits(undefined, 64)).toEqual({ requests: 256, blobs: 64 })
  })
})

function api(name: string, slots?: HostThrottle): RegistryApi {
  return { name, ...(slots && { transferSlots: slots }) } as unknown as RegistryApi
}

function job(src: RegistryApi, dst: RegistryApi): BlobJob {
  return {
    src,
    srcRepo: 'a',
    dst,
    dstRepo: 'b',
    desc: { mediaType: 'x', digest: `sha256:${'0'.repeat(64)}`, size: 1 },
    stats: emptyBlobStats(),
  }
}

describe('transferGate', () => {
  it('each registry bounds its own transfers: the lower lane of the two decides', async () => {
    const a = new HostThrottle('a.example', { requests: 8, blobs: 2 })
    const b = new HostThrottle('b.example', { requests: 8, blobs: 8 })
    const gate = transferGate(pLimit(100))
    let now = 0
    let most = 0
    const run = () =>
      gate(
        async () => {
          most = Math.max(most, ++now)
          await tick()
          now--
        },
        job(api('a.example', a), api('b.example', b)),
      )
    await Promise.all(Array.from({ length: 10 }, run))
    expect(most).toBe(2)
  })

  it('transfers both ways between two registries with one slot each never wait on each other', async () => {
    const a = new HostThrottle('a.example', { requests: 1, blobs: 1 })
    const b = new HostThrottle('b.example', { requests: 1, blobs: 1 })
    const gate = transferGate(pLimit(100))
    const there = job(api('a.example', a), api('b.example', b))
    const back = job(api('b.example', b), api('a.example', a))
    let done = 0
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        gate(
          async () => {
            await tick()
            done++
          },
          i % 2 ? there : back,
        ),
      ),
    )
    expect(done).toBe(6)
  })

  it('one registry on both sides takes one slot; backends without lanes use the fallback limit', async () => {
    const a = new HostThrottle('a.example', { requests: 1, blobs: 1 })
    const gate = transferGate(pLimit(3))
    await gate(async () => {}, job(api('a.example', a), api('a.example', a)))
    let now = 0
    let most = 0
    await Promise.all(
      Array.from({ length: 9 }, () =>
        gate(
          async () => {
            most = Math.max(most, ++now)
            await tick()
            now--
          },
          job(api('oci:/x'), api('oci:/y')),
        ),
      ),
    )
    expect(most).toBe(3)
  })
})
