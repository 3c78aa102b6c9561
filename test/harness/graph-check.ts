// Consistency check of a registry, independent of imgsync: every tag of every repository must point
// at a manifest whose child manifests and blobs all exist (catalog → tags → manifest → children →
// blob HEAD). Fault tests run it on the target after every scenario: whatever broke, no tag may
// point at incomplete content. Also seeds images with chosen layer sizes for those tests.
import { randomBytes } from 'node:crypto'
import { type BasicAuth, MANIFEST_ACCEPT, MEDIA_TYPES, pushBlob, pushManifest, sha256 } from './fixtures.js'

export interface Dangling {
  repo: string
  /** the tag whose graph is broken */
  tag: string
  /** digests from the tagged manifest down to the parent of the missing node */
  via: string[]
  digest: string
  kind: 'manifest' | 'blob' | 'tag'
  /** what is wrong: missing (404), wrong size, or bytes that do not hash to the digest */
  problem: 'missing' | 'size' | 'digest'
}

export interface GraphReport {
  repositories: number
  tags: number
  manifests: number
  blobs: number
  dangling: Dangling[]
}

interface Desc {
  mediaType?: string
  digest: string
  size: number
}

interface ManifestJson {
  mediaType?: string
  manifests?: Desc[]
  config?: Desc
  layers?: Desc[]
  blobs?: Desc[]
}

function authHeaders(auth?: BasicAuth, extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { 'User-Agent': 'imgsync-graph-check', ...extra }
  if (auth) h.Authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`
  return h
}

async function getJson<T>(url: string, auth?: BasicAuth): Promise<{ body: T; next?: string } | undefined> {
  const res = await fetch(url, { headers: authHeaders(auth) })
  if (res.status === 404) {
    await res.arrayBuffer()
    return undefined
  }
  if (res.status !== 200) throw new Error(`graph-check: GET ${url}: HTTP ${res.status} ${await res.text()}`)
  const link = res.headers.get('link')?.match(/<([^>]+)>\s*;\s*rel="?next"?/)
  return { body: (await res.json()) as T, next: link ? new URL(link[1] ?? '', url).toString() : undefined }
}

async function paged<T>(first: string, pick: (b: T) => string[] | null | undefined, auth?: BasicAuth) {
  const out: string[] = []
  let next: string | undefined = first
  while (next) {
    const page: { body: T; next?: string } | undefined = await getJson<T>(next, auth)
    if (!page) break
    out.push(...(pick(page.body) ?? []))
    next = page.next
  }
  return out
}

/** Lists the repositories of a registry (its catalog). */
export async function catalog(base: string, auth?: BasicAuth): Promise<string[]> {
  return (
    await paged<{ repositories?: string[] }>(`${base}/v2/_catalog?n=1000`, (b) => b.repositories, auth)
  ).sort()
}

/**
 * Walks every tag of every repository (or only `repos`) and returns what is dangling. Throws when
 * the registry cannot be read at all, so an unreachable registry never passes as "consistent".
 */
export async function checkGraph(
  base: string,
  opts: { auth?: BasicAuth; repos?: string[] } = {},
): Promise<GraphReport> {
  const { auth } = opts
  const report: GraphReport = { repositories: 0, tags: 0, manifests: 0, blobs: 0, dangling: [] }
  const repos = opts.repos ?? (await catalog(base, auth))
  for (const repo of repos) {
    report.repositories++
    const tags = await paged<{ tags?: string[] | null }>(
      `${base}/v2/${repo}/tags/list?n=1000`,
      (b) => b.tags,
      auth,
    )
    // a node checked once per repository is good for every tag that reaches it
    const seen = new Map<string, Dangling['problem'] | 'ok'>()
    const blob = async (d: Desc, tag: string, via: string[]) => {
      const key = `blob ${d.digest}`
      let state = seen.get(key)
      if (!state) {
        report.blobs++
        const res = await fetch(`${base}/v2/${repo}/blobs/${d.digest}`, {
          method: 'HEAD',
          headers: authHeaders(auth),
        })
        if (res.status === 404) state = 'missing'
        else if (res.status !== 200)
          throw new Error(`graph-check: HEAD ${repo}@${d.digest}: HTTP ${res.status}`)
        else state = Number(res.headers.get('content-length')) === d.size ? 'ok' : 'size'
        seen.set(key, state)
      }
      if (state !== 'ok')
        report.dangling.push({ repo, tag, via, digest: d.digest, kind: 'blob', problem: state })
    }
    const manifest = async (ref: string, tag: string, via: string[], size?: number): Promise<void> => {
      const key = `manifest ${ref}`
      if (ref.includes(':') && seen.has(key)) {
        const state = seen.get(key)
        if (state !== 'ok' && state !== undefined)
          report.dangling.push({ repo, tag, via, digest: ref, kind: 'manifest', problem: state })
        return
      }
      report.manifests++
      const res = await fetch(`${base}/v2/${repo}/manifests/${ref}`, {
        headers: authHeaders(auth, { Accept: MANIFEST_ACCEPT }),
      })
      if (res.status === 404) {
        await res.arrayBuffer()
        seen.set(key, 'missing')
        report.dangling.push({
          repo,
          tag,
          via,
          digest: ref,
          kind: ref === tag ? 'tag' : 'manifest',
          problem: 'missing',
        })
        return
      }
      if (res.status !== 200) throw new Error(`graph-check: GET ${repo}:${ref}: HTTP ${res.status}`)
      const bytes = Buffer.from(await res.arrayBuffer())
      const digest = sha256(bytes)
      if ((ref.includes(':') && ref !== digest) || (size !== undefined && size !== bytes.length)) {
        seen.set(key, ref !== digest ? 'digest' : 'size')
        report.dangling.push({
          repo,
          tag,
          via,
          digest: ref,
          kind: 'manifest',
          problem: seen.get(key) as 'digest',
        })
        return
      }
      seen.set(`manifest ${digest}`, 'ok')
      let parsed: ManifestJson
      try {
        parsed = JSON.parse(bytes.toString('utf8')) as ManifestJson
      } catch {
        report.dangling.push({ repo, tag, via, digest, kind: 'manifest', problem: 'digest' })
        return
      }
      const below = [...via, digest]
      for (const child of parsed.manifests ?? []) await manifest(child.digest, tag, below, child.size)
      const blobs = [
        ...(parsed.config ? [parsed.config] : []),
        ...(parsed.layers ?? []),
        ...(parsed.blobs ?? []),
      ]
      for (const b of blobs) await blob(b, tag, below)
    }
    for (const tag of tags) {
      report.tags++
      await manifest(tag, tag, [])
    }
  }
  return report
}

/** A readable list of dangling references, for assertion messages. */
export function describeDangling(list: Dangling[]): string {
  return list
    .map(
      (d) =>
        `${d.repo}:${d.tag} → ${[...d.via, d.digest].map((x) => x.slice(0, 19)).join(' → ')} (${d.kind} ${d.problem})`,
    )
    .join('\n')
}

export interface SeededImage {
  repo: string
  tag: string
  digest: string
  config: string
  /** layer digests, in order */
  layers: string[]
  sizes: number[]
}

/** One OCI image whose layers are fresh random bytes of the given sizes (no blob shared with any other image). */
export async function pushImageWithLayers(
  base: string,
  repo: string,
  tag: string,
  layerSizes: number[],
  auth?: BasicAuth,
): Promise<SeededImage> {
  const layerBytes = layerSizes.map((n) => randomBytes(n))
  const configBytes = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/bin/app', tag] },
      rootfs: { type: 'layers', diff_ids: layerBytes.map((l) => sha256(l)) },
      // makes the config (and so the manifest) unique even for equal tags in other repositories
      nonce: randomBytes(8).toString('hex'),
    }),
  )
  const config = await pushBlob(base, repo, configBytes, auth)
  const layers: string[] = []
  for (const l of layerBytes) layers.push(await pushBlob(base, repo, l, auth))
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: MEDIA_TYPES.ociConfig, digest: config, size: configBytes.length },
      layers: layers.map((digest, i) => ({
        mediaType: MEDIA_TYPES.ociLayerGzip,
        digest,
        size: layerBytes[i]?.length ?? 0,
      })),
    }),
  )
  const digest = await pushManifest(base, repo, tag, manifest, MEDIA_TYPES.ociManifest, auth)
  return { repo, tag, digest, config, layers, sizes: layerSizes }
}
