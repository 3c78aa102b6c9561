import { describe, expect, it } from 'vitest'
import {
  artifactKind,
  blobDescriptors,
  isIndexType,
  isManifestType,
  MediaTypes,
  parseManifest,
  platformString,
} from '../../src/registry/media-types.js'

const d = (c: string) => `sha256:${c.repeat(64)}`
const bytes = (o: unknown) => Buffer.from(JSON.stringify(o))

const config = { mediaType: MediaTypes.ociConfig, digest: d('c'), size: 10 }
const layer1 = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('1'), size: 100 }
const layer2 = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('2'), size: 200 }

describe('parseManifest', () => {
  it('reads an OCI image manifest', () => {
    const subject = { mediaType: MediaTypes.ociManifest, digest: d('5'), size: 3 }
    const m = parseManifest(
      bytes({
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        config,
        layers: [layer1, layer2],
        subject,
      }),
    )
    expect(m).toEqual({
      mediaType: MediaTypes.ociManifest,
      manifests: [],
      config,
      layers: [layer1, layer2],
      subject,
      artifactType: undefined,
    })
  })

  it('reads an OCI index', () => {
    const child = {
      mediaType: MediaTypes.ociManifest,
      digest: d('a'),
      size: 5,
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
    }
    const m = parseManifest(bytes({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [child] }))
    expect(m.mediaType).toBe(MediaTypes.ociIndex)
    expect(m.manifests).toEqual([child])
    expect(m.layers).toEqual([])
    expect(m.config).toBeUndefined()
    expect(isIndexType(m.mediaType)).toBe(true)
  })

  it('reads a Docker manifest list', () => {
    const child = { mediaType: MediaTypes.dockerManifest, digest: d('b'), size: 7 }
    const m = parseManifest(bytes({ schemaVersion: 2, mediaType: MediaTypes.dockerList, manifests: [child] }))
    expect(m.mediaType).toBe(MediaTypes.dockerList)
    expect(isIndexType(m.mediaType)).toBe(true)
    expect(m.manifests).toHaveLength(1)
  })

  it('recognises an index without mediaType by its manifests array', () => {
    const m = parseManifest(bytes({ schemaVersion: 2, manifests: [] }))
    expect(m.mediaType).toBe(MediaTypes.ociIndex)
  })

  it('recognises an image manifest without mediaType by its config', () => {
    expect(parseManifest(bytes({ schemaVersion: 2, config, layers: [] })).mediaType).toBe(
      MediaTypes.ociManifest,
    )
  })

  it('prefers the JSON mediaType, then the Content-Type header', () => {
    const b = bytes({ schemaVersion: 2, mediaType: MediaTypes.dockerManifest, config, layers: [] })
    expect(parseManifest(b, MediaTypes.ociManifest).mediaType).toBe(MediaTypes.dockerManifest)
    const noType = bytes({ schemaVersion: 2, manifests: [] })
    expect(parseManifest(noType, MediaTypes.dockerList).mediaType).toBe(MediaTypes.dockerList)
  })

  it('marks schema 1 whatever the header says', () => {
    const m = parseManifest(bytes({ schemaVersion: 1, name: 'a', fsLayers: [] }), MediaTypes.dockerManifest)
    expect(m.mediaType).toBe(MediaTypes.dockerSchema1)
  })

  it('reads artifactType', () => {
    const m = parseManifest(
      bytes({ mediaType: MediaTypes.ociManifest, artifactType: 'application/x', config }),
    )
    expect(m.artifactType).toBe('application/x')
  })

  it('rejects bytes that are not a JSON object', () => {
    expect(() => parseManifest(Buffer.from('{nope'))).toThrow(/not valid JSON/)
    expect(() => parseManifest(Buffer.from('null'))).toThrow(/not a JSON object/)
    expect(() => parseManifest(Buffer.from('"s"'))).toThrow(/not a JSON object/)
  })
})

describe('blobDescriptors', () => {
  it('lists config then layers', () => {
    const m = parseManifest(bytes({ mediaType: MediaTypes.ociManifest, config, layers: [layer1, layer2] }))
    expect(blobDescriptors(m).map((x) => x.digest)).toEqual([d('c'), d('1'), d('2')])
  })

  it('skips foreign layers that carry urls, keeps ones with an empty urls list', () => {
    const foreign = {
      mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
      digest: d('f'),
      size: 1000,
      urls: ['https://mcr.microsoft.com/v2/windows/blobs/x'],
    }
    const emptyUrls = { ...layer2, urls: [] }
    const m = parseManifest(
      bytes({ mediaType: MediaTypes.dockerManifest, config, layers: [layer1, foreign, emptyUrls] }),
    )
    expect(blobDescriptors(m).map((x) => x.digest)).toEqual([d('c'), d('1'), d('2')])
  })

  it('is empty for an index', () => {
    const m = parseManifest(bytes({ mediaType: MediaTypes.ociIndex, manifests: [{ ...config }] }))
    expect(blobDescriptors(m)).toEqual([])
  })
})

describe('artifactKind', () => {
  const kind = (o: unknown) => artifactKind(parseManifest(bytes(o)))

  it('image: OCI or Docker config', () => {
    expect(kind({ mediaType: MediaTypes.ociManifest, config, layers: [layer1] })).toBe('image')
    expect(
      kind({
        mediaType: MediaTypes.dockerManifest,
        config: { ...config, mediaType: MediaTypes.dockerConfig },
        layers: [layer1],
      }),
    ).toBe('image')
  })

  it('helm: the Helm config type, even with an artifactType', () => {
    const helm = { ...config, mediaType: MediaTypes.helmConfig }
    expect(kind({ mediaType: MediaTypes.ociManifest, config: helm, layers: [layer1] })).toBe('helm')
    expect(kind({ mediaType: MediaTypes.ociManifest, artifactType: 'x/y', config: helm, layers: [] })).toBe(
      'helm',
    )
  })

  it('artifact: an artifactType, or an unknown config type', () => {
    const empty = { mediaType: MediaTypes.ociEmpty, digest: d('e'), size: 2 }
    expect(
      kind({
        mediaType: MediaTypes.ociManifest,
        artifactType: 'application/spdx+json',
        config: empty,
        layers: [],
      }),
    ).toBe('artifact')
    expect(
      kind({ mediaType: MediaTypes.ociManifest, artifactType: 'application/x', config, layers: [] }),
    ).toBe('artifact')
    expect(
      kind({
        mediaType: MediaTypes.ociManifest,
        config: { ...config, mediaType: 'application/x.cfg' },
        layers: [],
      }),
    ).toBe('artifact')
  })

  it('index: an image, unless it carries an artifactType', () => {
    expect(kind({ mediaType: MediaTypes.ociIndex, manifests: [] })).toBe('image')
    expect(kind({ mediaType: MediaTypes.dockerList, manifests: [] })).toBe('image')
    expect(kind({ schemaVersion: 2, manifests: [] })).toBe('image')
    expect(kind({ mediaType: MediaTypes.ociIndex, artifactType: 'application/x', manifests: [] })).toBe(
      'artifact',
    )
  })
})

describe('type predicates and platformString', () => {
  it('classifies media types', () => {
    expect(isManifestType(MediaTypes.ociManifest)).toBe(true)
    expect(isManifestType(MediaTypes.dockerManifest)).toBe(true)
    expect(isManifestType(MediaTypes.ociIndex)).toBe(false)
    expect(isIndexType(MediaTypes.ociManifest)).toBe(false)
  })

  it('formats platforms', () => {
    expect(platformString({ os: 'linux', architecture: 'arm', variant: 'v7' })).toBe('linux/arm/v7')
    expect(platformString({ os: 'linux', architecture: 'amd64' })).toBe('linux/amd64')
    expect(platformString(undefined)).toBe('unknown')
  })
})
