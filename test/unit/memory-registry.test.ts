// The fake registry the copy-engine tests rely on: if it were lenient, those tests would prove little.
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { ImgsyncError } from '../../src/errors.js'
import { MemoryRegistry, MT, sha256 } from '../support/memory-registry.js'

const body = (b: Buffer) => Readable.from([b], { objectMode: false })

async function read(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const c of r) parts.push(c as Buffer)
  return Buffer.concat(parts)
}

describe('MemoryRegistry', () => {
  it('seeds an image and serves it back', async () => {
    const reg = new MemoryRegistry('r')
    const img = reg.seedImage('app', '1.0', { layers: [Buffer.from('layer one'), Buffer.from('layer two')] })
    expect(img.digest).toBe(sha256(img.bytes))
    expect(await reg.headManifest('app', '1.0')).toEqual({
      digest: img.digest,
      mediaType: MT.ociManifest,
      size: img.size,
    })
    expect((await reg.getManifest('app', img.digest)).bytes.equals(img.bytes)).toBe(true)
    expect(await reg.headManifest('app', 'nope')).toBeUndefined()
    expect(await reg.headManifest('other', '1.0')).toBeUndefined()
    const l = img.layers[0]!
    expect((await read(await reg.getBlob('app', l))).toString()).toBe('layer one')
    expect(await reg.listTags('app')).toEqual(['1.0'])
    expect(reg.log).toEqual([
      'headManifest app 1.0',
      `getManifest app ${img.digest}`,
      'headManifest app nope',
      'headManifest other 1.0',
      `getBlob app ${l.digest}`,
      'listTags app',
    ])
  })

  it('refuses a manifest whose blobs are missing from that repository', async () => {
    const reg = new MemoryRegistry('r')
    const img = reg.seedImage('app', '1.0', { layers: [Buffer.from('x')] })
    const err = await reg.putManifest('other', '1.0', img.bytes, img.mediaType).catch((e) => e)
    expect(err).toBeInstanceOf(ImgsyncError)
    expect(err.registryCode).toBe('MANIFEST_BLOB_UNKNOWN')
    expect(reg.tagDigest('other', '1.0')).toBeUndefined()
  })

  it('refuses an index whose child manifests are missing', async () => {
    const reg = new MemoryRegistry('r')
    const idx = reg.seedIndex('app', '1.0', { images: [{ layers: [Buffer.from('x')] }] })
    for (const b of idx.children[0]!.blobs) reg.seedBlob('other', reg.blobBytes('app', b.digest)!)
    await expect(reg.putManifest('other', 't', idx.bytes, idx.mediaType)).rejects.toMatchObject({
      registryCode: 'MANIFEST_BLOB_UNKNOWN',
    })
    const child = idx.children[0]!
    await reg.putManifest('other', child.digest, child.bytes, child.mediaType)
    expect((await reg.putManifest('other', 't', idx.bytes, idx.mediaType)).digest).toBe(idx.digest)
  })

  it('refuses a manifest pushed under a digest it does not hash to', async () => {
    const reg = new MemoryRegistry('r')
    const bytes = Buffer.from('{"schemaVersion":2,"manifests":[]}')
    await expect(reg.putManifest('a', sha256(Buffer.from('x')), bytes, MT.ociIndex)).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
    })
  })

  it('hashes uploads and refuses a mismatch or a wrong size', async () => {
    const reg = new MemoryRegistry('r')
    const good = Buffer.from('hello world')
    const desc = { mediaType: MT.ociLayer, digest: sha256(good), size: good.length }
    await expect(reg.putBlob('a', desc, body(Buffer.from('hello WORLD')))).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
      registryCode: 'DIGEST_INVALID',
    })
    await expect(reg.putBlob('a', desc, body(Buffer.from('hello')))).rejects.toMatchObject({
      registryCode: 'SIZE_INVALID',
    })
    expect(reg.hasBlobNow('a', desc.digest)).toBe(false)
    await reg.putBlob('a', desc, body(good))
    expect(reg.blobBytes('a', desc.digest)?.equals(good)).toBe(true)
  })

  it('commits nothing when the upload stream fails', async () => {
    const reg = new MemoryRegistry('r')
    const good = Buffer.from('abc')
    const desc = { mediaType: MT.ociLayer, digest: sha256(good), size: 3 }
    const failing = new Readable({
      read() {
        this.destroy(new Error('broken pipe'))
      },
    })
    await expect(reg.putBlob('a', desc, failing)).rejects.toThrow('broken pipe')
    expect(reg.hasBlobNow('a', desc.digest)).toBe(false)
  })

  it('mounts only from a repository that holds the blob', async () => {
    const reg = new MemoryRegistry('r')
    const d = reg.seedBlob('a', Buffer.from('blob'))
    expect(await reg.mountBlob('b', d.digest, 'nowhere')).toEqual({ mounted: false })
    expect(reg.hasBlobNow('b', d.digest)).toBe(false)
    expect(await reg.mountBlob('b', d.digest, 'a')).toEqual({ mounted: true })
    expect(await reg.hasBlob('b', d.digest)).toBe(true)
    expect(reg.writes()).toEqual([`mountBlob b ${d.digest} from=nowhere`, `mountBlob b ${d.digest} from=a`])
  })

  it('fault hooks: corrupted and failing reads, for a number of calls', async () => {
    const reg = new MemoryRegistry('r')
    const d = reg.seedBlob('a', Buffer.from('content'))
    reg.corruptBlob(d.digest, 1)
    const bad = await read(await reg.getBlob('a', d))
    expect(bad.length).toBe(d.size)
    expect(sha256(bad)).not.toBe(d.digest)
    expect(sha256(await read(await reg.getBlob('a', d)))).toBe(d.digest)
    reg.failGetBlob(d.digest, new ImgsyncError('NETWORK', 'reset'), 1)
    await expect(reg.getBlob('a', d)).rejects.toMatchObject({ code: 'NETWORK' })
    expect(sha256(await read(await reg.getBlob('a', d)))).toBe(d.digest)
    await expect(reg.getBlob('b', d)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      registryCode: 'BLOB_UNKNOWN',
    })
  })

  it('lists repositories and referrers, and deletes manifests with their tags', async () => {
    const reg = new MemoryRegistry('r')
    const img = reg.seedImage('app', '1.0', { layers: [Buffer.from('x')] })
    const sig = reg.seedImage('app', undefined, {
      layers: [Buffer.from('sig')],
      artifactType: 'application/vnd.dev.cosign',
      config: Buffer.from('{}'),
      configMediaType: MT.ociEmpty,
      subject: { mediaType: img.mediaType, digest: img.digest, size: img.size },
    })
    expect(await reg.listRepositories()).toEqual(['app'])
    expect(await reg.referrers('app', img.digest)).toEqual([
      {
        mediaType: MT.ociManifest,
        digest: sig.digest,
        size: sig.size,
        artifactType: 'application/vnd.dev.cosign',
      },
    ])
    await reg.deleteManifest('app', img.digest)
    expect(reg.tags('app')).toEqual([])
    await expect(reg.listTags('none')).rejects.toMatchObject({
      code: 'NOT_FOUND',
      registryCode: 'NAME_UNKNOWN',
    })
  })
})
