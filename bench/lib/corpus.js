// Benchmark corpora (the registry client that pushes them is in client.js).
// Content is pseudo-random (AES-CTR keystream of a seed): incompressible, and the same parameters
// and seed give the same digests on every run and every machine.
import { createCipheriv, createHash } from 'node:crypto'

export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  helmConfig: 'application/vnd.cncf.helm.config.v1+json',
  helmChart: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip',
}
const CREATED = '2024-01-01T00:00:00Z'

export function sha256(bytes) {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`
}

function keystream(seed) {
  const key = createHash('sha256').update(String(seed)).digest()
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16))
}

/** `size` pseudo-random bytes determined by `seed`. */
export function pseudoRandom(seed, size) {
  return keystream(seed).update(Buffer.alloc(size))
}

/** The same bytes as pseudoRandom(seed, size), in chunks, without holding them all. */
export function* pseudoRandomChunks(seed, size, chunk = 1 << 20) {
  const cipher = keystream(seed)
  const zeros = Buffer.alloc(chunk)
  for (let left = size; left > 0; left -= chunk) {
    yield cipher.update(left >= chunk ? zeros : zeros.subarray(0, left))
  }
}

export const json = (value) => Buffer.from(JSON.stringify(value))

/** Runs fn over items with at most `limit` in flight; rejects with the first error after all settle. */
export async function mapLimit(items, limit, fn) {
  const results = new Array(items.length)
  let next = 0
  let error
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      try {
        results[i] = await fn(items[i], i)
      } catch (err) {
        error ??= err
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  if (error) throw error
  return results
}

/**
 * A corpus: repositories, each with manifests to push (children by digest first, then tags), and the
 * unique blobs they reference.
 */
class CorpusBuilder {
  constructor(namespace) {
    this.namespace = namespace
    /** digest → { size, bytes } */
    this.blobs = new Map()
    /** name → { name, manifests: [{ ref, tag?, digest, mediaType, body, blobs, child }] } */
    this.repos = new Map()
  }

  repo(name) {
    const full = `${this.namespace}/${name}`
    let r = this.repos.get(full)
    if (!r) {
      r = { name: full, manifests: [] }
      this.repos.set(full, r)
    }
    return r
  }

  blob(bytes, mediaType) {
    const digest = sha256(bytes)
    if (!this.blobs.has(digest)) this.blobs.set(digest, { size: bytes.length, bytes })
    return { mediaType, digest, size: bytes.length }
  }

  manifest(repoName, value, tag) {
    const body = json(value)
    const digest = sha256(body)
    const blobs = [value.config, ...(value.layers ?? [])].filter(Boolean).map((d) => d.digest)
    this.repo(repoName).manifests.push({
      ref: tag ?? digest,
      tag,
      digest,
      mediaType: value.mediaType,
      body,
      blobs,
      child: tag === undefined,
    })
    return { mediaType: value.mediaType, digest, size: body.length }
  }

  image(repoName, tag, { docker, layers, platform, label }) {
    const layerType = docker ? MEDIA.dockerLayer : MEDIA.ociLayer
    const layerDescs = layers.map((bytes) => this.blob(bytes, layerType))
    const config = this.blob(
      json({
        created: CREATED,
        architecture: platform.architecture,
        ...(platform.variant ? { variant: platform.variant } : {}),
        os: platform.os,
        config: { Env: ['PATH=/usr/bin:/bin'], Cmd: ['/app'], Labels: { 'bench.image': label } },
        rootfs: { type: 'layers', diff_ids: layerDescs.map((l) => l.digest) },
        history: layerDescs.map((_, i) => ({ created: CREATED, created_by: `layer ${i}` })),
      }),
      docker ? MEDIA.dockerConfig : MEDIA.ociConfig,
    )
    return this.manifest(
      repoName,
      {
        schemaVersion: 2,
        mediaType: docker ? MEDIA.dockerManifest : MEDIA.ociManifest,
        config,
        layers: layerDescs,
      },
      tag,
    )
  }

  build(extra = {}) {
    const repositories = [...this.repos.values()]
    let uniqueBlobBytes = 0
    for (const b of this.blobs.values()) uniqueBlobBytes += b.size
    const manifests = repositories.reduce((n, r) => n + r.manifests.length, 0)
    const tags = repositories.reduce((n, r) => n + r.manifests.filter((m) => !m.child).length, 0)
    return {
      namespace: this.namespace,
      repositories,
      blobs: this.blobs,
      summary: {
        repositories: repositories.length,
        tags,
        manifests,
        uniqueBlobs: this.blobs.size,
        uniqueBlobBytes,
        ...extra,
      },
    }
  }
}

/**
 * The sync corpus: `repos` repositories × `tags` tags, each image `layers` layers of `layerSize`
 * bytes, of which round(layers × shared) are base layers every image shares; plus one multi-arch
 * index (2 platforms) and one Helm chart. Odd repositories use Docker schema 2, even ones OCI.
 */
export function syncCorpus({ namespace, repos, tags, layers, layerSize, shared, seed }) {
  const c = new CorpusBuilder(namespace)
  const baseCount = Math.min(layers, Math.round(layers * shared))
  const base = Array.from({ length: baseCount }, (_, i) => pseudoRandom(`${seed}/base/${i}`, layerSize))
  const ownLayers = (key) =>
    Array.from({ length: layers - baseCount }, (_, i) => pseudoRandom(`${seed}/${key}/${i}`, layerSize))
  const amd64 = { os: 'linux', architecture: 'amd64' }
  for (let r = 0; r < repos; r++) {
    const repo = `app-${String(r).padStart(3, '0')}`
    for (let t = 0; t < tags; t++) {
      const tag = `v1.0.${t}`
      c.image(repo, tag, {
        docker: r % 2 === 1,
        layers: [...base, ...ownLayers(`${repo}:${tag}`)],
        platform: amd64,
        label: `${repo}:${tag}`,
      })
    }
  }
  const children = [amd64, { os: 'linux', architecture: 'arm64', variant: 'v8' }].map((platform) => ({
    ...c.image('multi-arch', undefined, {
      docker: false,
      layers: [...base, ...ownLayers(`multi-arch/${platform.architecture}`)],
      platform,
      label: `multi-arch/${platform.architecture}`,
    }),
    platform,
  }))
  c.manifest('multi-arch', { schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: children }, '1.0')
  const chartConfig = c.blob(
    json({ apiVersion: 'v2', name: 'demo', version: '0.1.0', type: 'application' }),
    MEDIA.helmConfig,
  )
  const chartLayer = c.blob(pseudoRandom(`${seed}/chart`, 16 * 1024), MEDIA.helmChart)
  c.manifest(
    'charts/demo',
    {
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: chartConfig,
      layers: [chartLayer],
      annotations: { 'org.opencontainers.image.title': 'demo', 'org.opencontainers.image.version': '0.1.0' },
    },
    '0.1.0',
  )
  return c.build({ baseLayers: baseCount })
}

/**
 * The no-op-at-scale corpus: `repos` × `tags` tiny images. Every tag has its own manifest (an
 * annotation differs) over one shared config and layer, so pushing costs one PUT per tag.
 */
export function scaleCorpus({ namespace, repos, tags, seed }) {
  const c = new CorpusBuilder(namespace)
  const layer = c.blob(pseudoRandom(`${seed}/scale-layer`, 1024), MEDIA.ociLayer)
  const config = c.blob(
    json({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } }),
    MEDIA.ociConfig,
  )
  for (let r = 0; r < repos; r++) {
    const repo = `r-${String(r).padStart(3, '0')}`
    for (let t = 0; t < tags; t++) {
      const tag = `v0.${t}`
      c.manifest(
        repo,
        {
          schemaVersion: 2,
          mediaType: MEDIA.ociManifest,
          config,
          layers: [layer],
          annotations: { 'bench.ref': `${repo}:${tag}` },
        },
        tag,
      )
    }
  }
  return c.build()
}
