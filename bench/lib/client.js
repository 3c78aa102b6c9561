// A tiny registry client to push and check the corpora (global fetch, no imgsync code).
import { createHash } from 'node:crypto'
import http from 'node:http'
import { json, MEDIA, mapLimit, pseudoRandomChunks, sha256 } from './corpus.js'

const ACCEPT = [
  MEDIA.ociIndex,
  MEDIA.ociManifest,
  'application/vnd.docker.distribution.manifest.list.v2+json',
  MEDIA.dockerManifest,
].join(', ')
const UA = { 'User-Agent': 'imgsync-bench-fixtures' }

async function expect(res, statuses, what) {
  if (!statuses.includes(res.status)) {
    const body = await res.text().catch(() => '')
    throw new Error(`${what}: HTTP ${res.status} ${body.slice(0, 300)}`)
  }
  await res.arrayBuffer().catch(() => undefined)
  return res
}

/** The few registry calls the bench needs, against one base URL (http://127.0.0.1:PORT). */
export class Client {
  constructor(base) {
    this.base = base
  }

  url(path) {
    return `${this.base}/v2/${path}`
  }

  async startUpload(repo) {
    const res = await expect(
      await fetch(this.url(`${repo}/blobs/uploads/`), { method: 'POST', headers: UA }),
      [202],
      `start upload to ${repo}`,
    )
    return new URL(res.headers.get('location'), this.base)
  }

  async pushBlob(repo, bytes, digest = sha256(bytes)) {
    const url = await this.startUpload(repo)
    url.searchParams.set('digest', digest)
    await expect(
      await fetch(url, {
        method: 'PUT',
        headers: { ...UA, 'Content-Type': 'application/octet-stream' },
        body: bytes,
      }),
      [201],
      `upload ${digest} to ${repo}`,
    )
    return digest
  }

  /** Cross-repository mount; true when the registry mounted it (201). */
  async mount(repo, digest, from) {
    const res = await fetch(
      this.url(`${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`),
      { method: 'POST', headers: UA },
    )
    await res.arrayBuffer()
    return res.status === 201
  }

  async putManifest(repo, ref, body, mediaType) {
    await expect(
      await fetch(this.url(`${repo}/manifests/${ref}`), {
        method: 'PUT',
        headers: { ...UA, 'Content-Type': mediaType },
        body,
      }),
      [201],
      `push manifest ${repo}:${ref}`,
    )
  }

  /** The digest the registry serves for repo:ref, or undefined. */
  async headManifest(repo, ref) {
    const res = await fetch(this.url(`${repo}/manifests/${ref}`), {
      method: 'HEAD',
      headers: { ...UA, Accept: ACCEPT },
    })
    if (res.status === 404) return undefined
    await expect(res, [200], `head manifest ${repo}:${ref}`)
    return res.headers.get('docker-content-digest') ?? undefined
  }

  async headBlob(repo, digest) {
    const res = await fetch(this.url(`${repo}/blobs/${digest}`), { method: 'HEAD', headers: UA })
    if (res.status === 404) return undefined
    await expect(res, [200], `head blob ${repo}@${digest}`)
    return Number(res.headers.get('content-length'))
  }

  /**
   * Streams a pseudo-random blob of `size` bytes: POST, one chunked PATCH hashed on the way, then the
   * closing PUT with the digest. Never holds the blob in memory.
   */
  async pushStream(repo, seed, size) {
    const start = await this.startUpload(repo)
    const hash = createHash('sha256')
    const location = await new Promise((resolve, reject) => {
      const req = http.request(start, {
        method: 'PATCH',
        headers: { ...UA, 'Content-Type': 'application/octet-stream' },
      })
      req.on('error', reject)
      req.on('response', (res) => {
        res.resume()
        if (res.statusCode !== 202) reject(new Error(`PATCH ${repo}: HTTP ${res.statusCode}`))
        else resolve(new URL(res.headers.location, this.base))
      })
      const chunks = pseudoRandomChunks(seed, size)
      const pump = () => {
        for (;;) {
          const { value, done } = chunks.next()
          if (done) return req.end()
          hash.update(value)
          if (!req.write(value)) return req.once('drain', pump)
        }
      }
      pump()
    })
    const digest = `sha256:${hash.digest('hex')}`
    location.searchParams.set('digest', digest)
    await expect(
      await fetch(location, { method: 'PUT', headers: { ...UA, 'Content-Length': '0' } }),
      [201],
      `finish upload of ${digest} to ${repo}`,
    )
    return digest
  }
}

/**
 * Pushes a corpus: per repository, each blob is uploaded once per registry and mounted into every
 * other repository; then child manifests by digest, then tags.
 */
export async function pushCorpus(client, corpus, { concurrency = 8 } = {}) {
  const holder = new Map()
  const ensure = async (repo, digest) => {
    const first = holder.get(digest)
    if (first) {
      const from = await first
      if (from !== repo && !(await client.mount(repo, digest, from))) {
        await client.pushBlob(repo, corpus.blobs.get(digest).bytes, digest)
      }
      return
    }
    const upload = client.pushBlob(repo, corpus.blobs.get(digest).bytes, digest).then(() => repo)
    holder.set(digest, upload)
    await upload
  }
  await mapLimit(corpus.repositories, Math.max(1, Math.floor(concurrency / 2)), async (repo) => {
    const digests = [...new Set(repo.manifests.flatMap((m) => m.blobs))]
    await mapLimit(digests, 2, (d) => ensure(repo.name, d))
  })
  const all = corpus.repositories.flatMap((r) => r.manifests.map((m) => ({ repo: r.name, m })))
  for (const children of [true, false]) {
    await mapLimit(
      all.filter((x) => x.m.child === children),
      concurrency * 2,
      ({ repo, m }) => client.putManifest(repo, m.ref, m.body, m.mediaType),
    )
  }
}

/**
 * Checks that every manifest of the corpus is at the target with its digest; returns the problems.
 * `mapRepo` gives the target repository of a source one (default: the same path).
 */
export async function verifyCorpus(client, corpus, mapRepo = (name) => name) {
  const all = corpus.repositories.flatMap((r) => r.manifests.map((m) => ({ repo: mapRepo(r.name), m })))
  const problems = []
  await mapLimit(all, 16, async ({ repo, m }) => {
    const got = await client.headManifest(repo, m.ref)
    if (got !== m.digest) problems.push(`${repo}:${m.ref} is ${got ?? 'missing'}, expected ${m.digest}`)
  })
  return problems
}

/** One image with a single big layer (streamed), for the large-layer scenario. */
export async function pushBigImage(client, repo, tag, size, seed) {
  const layer = await client.pushStream(repo, `${seed}/big/${size}`, size)
  const configBytes = json({
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [layer] },
  })
  const config = await client.pushBlob(repo, configBytes)
  const body = json({
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config: { mediaType: MEDIA.ociConfig, digest: config, size: configBytes.length },
    layers: [{ mediaType: MEDIA.ociLayer, digest: layer, size }],
  })
  await client.putManifest(repo, tag, body, MEDIA.ociManifest)
  return { layer, size, manifest: sha256(body), uniqueBlobBytes: size + configBytes.length }
}
