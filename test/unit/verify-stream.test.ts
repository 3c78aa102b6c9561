import { createHash, randomBytes } from 'node:crypto'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { describe, expect, it } from 'vitest'
import { VerifyStream } from '../../src/copy/verify-stream.js'
import { ImgsyncError } from '../../src/errors.js'
import type { Descriptor } from '../../src/registry/media-types.js'
import { rejection } from '../support/rejection.js'

const sha = (alg: 'sha256' | 'sha512', b: Buffer) => `${alg}:${createHash(alg).update(b).digest('hex')}`

function chunks(b: Buffer, size = 5): Buffer[] {
  const out: Buffer[] = []
  for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size))
  return out
}

/** Pipes `input` through a VerifyStream for `desc`; resolves with what came out, or rejects. */
async function run(desc: Descriptor, input: Buffer, onBytes?: (n: number) => void) {
  const out: Buffer[] = []
  const verify = new VerifyStream(desc, onBytes)
  await pipeline(
    Readable.from(chunks(input), { objectMode: false }),
    verify,
    new Writable({
      write(c, _e, cb) {
        out.push(c)
        cb()
      },
    }),
  )
  return { out: Buffer.concat(out), verify }
}

describe('VerifyStream', () => {
  const data = randomBytes(1000)
  const desc: Descriptor = { mediaType: 'x', digest: sha('sha256', data), size: data.length }

  it('passes correct bytes through unchanged and counts them', async () => {
    let reported = 0
    const { out, verify } = await run(desc, data, (n) => {
      reported += n
    })
    expect(out.equals(data)).toBe(true)
    expect(verify.bytes).toBe(1000)
    expect(reported).toBe(1000)
  })

  it('accepts sha512 digests', async () => {
    const { out } = await run({ mediaType: 'x', digest: sha('sha512', data), size: data.length }, data)
    expect(out.equals(data)).toBe(true)
  })

  it('accepts an empty blob', async () => {
    const empty = Buffer.alloc(0)
    const { out } = await run({ mediaType: 'x', digest: sha('sha256', empty), size: 0 }, empty)
    expect(out.length).toBe(0)
  })

  it('rejects the right size with the wrong content', async () => {
    const bad = Buffer.from(data)
    bad[500] = bad[500]! ^ 1
    const err = await rejection(run(desc, bad))
    expect(err.code).toBe('DIGEST_MISMATCH')
    expect(err.temporary).toBe(true)
    expect(err.message).toContain(desc.digest.slice(0, 19))
  })

  it('holds back the last chunk until the digest checks out, so a wrong blob never passes whole', async () => {
    const bad = Buffer.from(data)
    bad[999] = bad[999]! ^ 1
    const passed: Buffer[] = []
    const verify = new VerifyStream(desc)
    const sink = new Writable({
      write(c, _e, cb) {
        passed.push(c)
        cb()
      },
    })
    const err = await rejection(pipeline(Readable.from(chunks(bad)), verify, sink))
    expect(err.code).toBe('DIGEST_MISMATCH')
    expect(Buffer.concat(passed).length).toBeLessThan(bad.length)
  })

  it('rejects more bytes than declared, before passing the excess on', async () => {
    const out: Buffer[] = []
    const verify = new VerifyStream(desc)
    const err = await rejection(
      pipeline(
        Readable.from(chunks(Buffer.concat([data, Buffer.from('extra')])), { objectMode: false }),
        verify,
        new Writable({
          write(c, _e, cb) {
            out.push(c)
            cb()
          },
        }),
      ),
    )
    expect(err.code).toBe('DIGEST_MISMATCH')
    expect(err.message).toMatch(/more than the 1000 bytes/)
    expect(Buffer.concat(out).length).toBeLessThanOrEqual(1000)
  })

  it('rejects fewer bytes than declared', async () => {
    const err = await rejection(run(desc, data.subarray(0, 999)))
    expect(err.code).toBe('DIGEST_MISMATCH')
    expect(err.message).toMatch(/999 bytes/)
  })

  it('rejects when the declared size is smaller than the correct content', async () => {
    const err = await rejection(run({ ...desc, size: 10 }, data))
    expect(err.code).toBe('DIGEST_MISMATCH')
  })

  it('refuses an unknown digest algorithm up front', () => {
    expect(() => new VerifyStream({ mediaType: 'x', digest: 'md5:abc', size: 1 })).toThrow(ImgsyncError)
    expect(() => new VerifyStream({ mediaType: 'x', digest: 'sha256', size: 1 })).toThrow(
      /unsupported digest/,
    )
  })
})
