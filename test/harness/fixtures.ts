// A deliberately tiny, independent registry client (global fetch only, no imgsync code), so tests can seed
// registries and check what imgsync did without trusting imgsync's own client.
import { createHash, randomBytes } from 'node:crypto'
import { type RunningRegistry, startRegistry } from './registry.js'

export interface BasicAuth {
  username: string
  password: string
}

export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  helmConfig: 'application/vnd.cncf.helm.config.v1+json',
  helmChart: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip',
  spdx: 'application/spdx+json',
  cosignSimpleSigning: 'application/vnd.dev.cosign.simplesigning.v1+json',
} as const

export const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerList,
  MEDIA_TYPES.dockerManifest,
].join(', ')

/** The OCI empty JSON blob `{}`. */
export const EMPTY_JSON = Buffer.from('{}')

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`
}

function headers(auth?: BasicAuth, extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { 'User-Agent': 'imgsync-test-fixtures', ...extra }
  if (auth) h.Authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`
  return h
}

function v2(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}/v2/${path}`
}

async function fail(what: string, res: Response): Promise<never> {
  const body = await res.text().catch(() => '')
  throw new Error(`${what}: HTTP ${res.status} ${body.slice(0, 500)}`)
}

/** Monolithic upload (POST, then PUT with the bytes). Returns the blob digest. */
export async function pushBlob(
  base: string,
  repo: string,
  bytes: Uint8Array,
  auth?: BasicAuth,
): Promise<string> {
  const digest = sha256(bytes)
  const start = await fetch(v2(base, `${repo}/blobs/uploads/`), { method: 'POST', headers: headers(auth) })
  if (start.status !== 202) return fail(`start upload to ${repo}`, start)
  await start.arrayBuffer()
  const location = start.headers.get('location')
  if (!location) throw new Error(`start upload to ${repo}: 202 without Location`)
  // Location may be relative and already carries a query (_state); append rather than rebuild it.
  const target = new URL(location, base).toString()
  const put = await fetch(
    `${target}${target.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`,
    {
      method: 'PUT',
      headers: headers(auth, { 'Content-Type': 'application/octet-stream' }),
      body: bytes,
    },
  )
  if (put.status !== 201) return fail(`finish upload of ${digest} to ${repo}`, put)
  await put.arrayBuffer()
  const stored = put.headers.get('docker-content-digest')
  if (stored && stored !== digest) throw new Error(`registry stored ${stored} for blob ${digest}`)
  return digest
}

/** PUT a manifest exactly as given. Returns sha256 of those bytes (checked against the registry's answer). */
export async function pushManifest(
  base: string,
  repo: string,
  reference: string,
  body: Uint8Array,
  mediaType: string,
  auth?: BasicAuth,
): Promise<string> {
  const digest = sha256(body)
  const res = await fetch(v2(base, `${repo}/manifests/${reference}`), {
    method: 'PUT',
    headers: headers(auth, { 'Content-Type': mediaType }),
    body,
  })
  if (res.status !== 201) return fail(`push manifest ${repo}:${reference}`, res)
  await res.arrayBuffer()
  const stored = res.headers.get('docker-content-digest')
  if (stored && stored !== digest) throw new Error(`registry stored ${stored} for manifest ${digest}`)
  return digest
}

export interface FetchedManifest {
  bytes: Buffer
  /** sha256 of the bytes received. */
  digest: string
  /** Content-Type the registry answered with. */
  mediaType: string
}

export async function getManifest(
  base: string,
  repo: string,
  reference: string,
  auth?: BasicAuth,
): Promise<FetchedManifest> {
  const res = await fetch(v2(base, `${repo}/manifests/${reference}`), {
    headers: headers(auth, { Accept: MANIFEST_ACCEPT }),
  })
  if (res.status !== 200) return fail(`get manifest ${repo}:${reference}`, res)
  const bytes = Buffer.from(await res.arrayBuffer())
  return { bytes, digest: sha256(bytes), mediaType: res.headers.get('content-type') ?? '' }
}

/** Tags of a repository ([] when the repository does not exist), following Link pagination. */
export async function listTags(base: string, repo: string, auth?: BasicAuth): Promise<string[]> {
  const tags: string[] = []
  let next: string | undefined = v2(base, `${repo}/tags/list`)
  while (next) {
    const res: Response = await fetch(next, { headers: headers(auth) })
    if (res.status === 404) {
      const text = await res.text()
      if (text.includes('NAME_UNKNOWN')) return []
      throw new Error(`list tags of ${repo}: HTTP 404 ${text.slice(0, 500)}`)
    }
    if (res.status !== 200) return fail(`list tags of ${repo}`, res)
    const body = (await res.json()) as { tags?: string[] | null }
    tags.push(...(body.tags ?? []))
    const link = res.headers.get('link')?.match(/<([^>]+)>\s*;\s*rel="?next"?/)
    next = link ? new URL(link[1], base).toString() : undefined
  }
  return tags
}

export async function headBlob(
  base: string,
  repo: string,
  digest: string,
  auth?: BasicAuth,
): Promise<{ exists: boolean; size?: number }> {
  const res = await fetch(v2(base, `${repo}/blobs/${digest}`), { method: 'HEAD', headers: headers(auth) })
  if (res.status === 404) return { exists: false }
  if (res.status !== 200) return fail(`head blob ${repo}@${digest}`, res)
  return { exists: true, size: Number(res.headers.get('content-length')) }
}

export const FIXTURE_KINDS = [
  'oci-image',
  'docker-image',
  'oci-index',
  'docker-list',
  'helm-chart',
  'oci-artifact',
  'referrer',
  'referrers-tag-index',
  'cosign-signature',
  'nested-repo',
] as const

export type FixtureKind = (typeof FIXTURE_KINDS)[number]

export interface Fixture {
  repo: string
  /** Undefined for the untagged referrer (pushed by digest). */
  tag?: string
  digest: string
  mediaType: string
  kind: FixtureKind
  /** Size of the manifest in bytes. */
  size: number
  /** Config and layer digests of an image-like manifest; [] for indexes. */
  blobs: string[]
  /** Child manifest digests of an index. */
  children?: string[]
  /** Digest of the manifest a referrer / signature / referrers-tag index is about. */
  subject?: string
}

interface Descriptor {
  mediaType: string
  digest: string
  size: number
  platform?: { architecture: string; os: string; variant?: string }
  artifactType?: string
  annotations?: Record<string, string>
}

type Platform = { os: string; architecture: string; variant?: string }

const CREATED = '2024-01-01T00:00:00Z'

function randomLayer(): Buffer {
  // 4 KiB to 64 KiB of random bytes: small but incompressible, so byte counts in logs are meaningful.
  return randomBytes(4096 + Math.floor(Math.random() * (60 * 1024)))
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value, null, 2))
}

function imageConfig(platform: Platform, layers: Buffer[], cmd: string[]): Buffer {
  return json({
    created: CREATED,
    architecture: platform.architecture,
    ...(platform.variant ? { variant: platform.variant } : {}),
    os: platform.os,
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: cmd,
      WorkingDir: '/',
      Labels: { 'org.opencontainers.image.source': 'https://example.invalid/imgsync-fixtures' },
    },
    // Layers are random bytes, not real tarballs; diff_ids only need to look right.
    rootfs: { type: 'layers', diff_ids: layers.map((l) => sha256(l)) },
    history: layers.map((_, i) => ({ created: CREATED, created_by: `/bin/sh -c #(nop) layer ${i}` })),
  })
}

class FixturePusher {
  constructor(
    private readonly base: string,
    private readonly auth?: BasicAuth,
  ) {}

  async blob(repo: string, bytes: Buffer, mediaType: string): Promise<Descriptor> {
    const digest = await pushBlob(this.base, repo, bytes, this.auth)
    return { mediaType, digest, size: bytes.length }
  }

  async manifest(repo: string, reference: string, value: Record<string, unknown>): Promise<Descriptor> {
    const body = json(value)
    const mediaType = value.mediaType as string
    const digest = await pushManifest(this.base, repo, reference, body, mediaType, this.auth)
    return { mediaType, digest, size: body.length }
  }

  /** An image manifest (OCI or Docker schema2) with its config and layers uploaded first. */
  async image(
    repo: string,
    reference: string,
    opts: { docker?: boolean; platform?: Platform; layers: Buffer[]; cmd?: string[] },
  ): Promise<{ desc: Descriptor; blobs: string[] }> {
    const platform = opts.platform ?? { os: 'linux', architecture: 'amd64' }
    const layerType = opts.docker ? MEDIA_TYPES.dockerLayerGzip : MEDIA_TYPES.ociLayerGzip
    const config = await this.blob(
      repo,
      imageConfig(platform, opts.layers, opts.cmd ?? ['/bin/sh']),
      opts.docker ? MEDIA_TYPES.dockerConfig : MEDIA_TYPES.ociConfig,
    )
    const layers: Descriptor[] = []
    for (const layer of opts.layers) layers.push(await this.blob(repo, layer, layerType))
    const desc = await this.manifest(repo, reference, {
      schemaVersion: 2,
      mediaType: opts.docker ? MEDIA_TYPES.dockerManifest : MEDIA_TYPES.ociManifest,
      config,
      layers,
    })
    return { desc, blobs: [config.digest, ...layers.map((l) => l.digest)] }
  }

  /** An OCI index or Docker manifest list whose children are pushed (by digest) before it. */
  async index(
    repo: string,
    tag: string,
    docker: boolean,
    platforms: Platform[],
  ): Promise<{ desc: Descriptor; children: string[] }> {
    const manifests: Descriptor[] = []
    for (const platform of platforms) {
      const layers = [randomLayer()]
      // Children are untagged, so their digest is the only reference we can push them by.
      const config = await this.blob(
        repo,
        imageConfig(platform, layers, ['/app']),
        docker ? MEDIA_TYPES.dockerConfig : MEDIA_TYPES.ociConfig,
      )
      const layer = await this.blob(
        repo,
        layers[0],
        docker ? MEDIA_TYPES.dockerLayerGzip : MEDIA_TYPES.ociLayerGzip,
      )
      const body = json({
        schemaVersion: 2,
        mediaType: docker ? MEDIA_TYPES.dockerManifest : MEDIA_TYPES.ociManifest,
        config,
        layers: [layer],
      })
      const mediaType = docker ? MEDIA_TYPES.dockerManifest : MEDIA_TYPES.ociManifest
      const digest = await pushManifest(this.base, repo, sha256(body), body, mediaType, this.auth)
      manifests.push({ mediaType, digest, size: body.length, platform })
    }
    const desc = await this.manifest(repo, tag, {
      schemaVersion: 2,
      mediaType: docker ? MEDIA_TYPES.dockerList : MEDIA_TYPES.ociIndex,
      manifests,
    })
    return { desc, children: manifests.map((m) => m.digest) }
  }

  /** A Helm chart as `helm push` stores it: helm config, one chart layer. */
  async chart(repo: string, version: string): Promise<{ desc: Descriptor; blobs: string[] }> {
    const name = repo.split('/').pop()!
    const config = await this.blob(
      repo,
      json({ apiVersion: 'v2', name, version, description: 'imgsync test chart', type: 'application' }),
      MEDIA_TYPES.helmConfig,
    )
    const layer = await this.blob(repo, randomLayer(), MEDIA_TYPES.helmChart)
    const desc = await this.manifest(repo, version, {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config,
      layers: [layer],
      annotations: { 'org.opencontainers.image.title': name, 'org.opencontainers.image.version': version },
    })
    return { desc, blobs: [config.digest, layer.digest] }
  }

  /** An OCI artifact manifest: empty config, one layer, optional subject. */
  async artifact(
    repo: string,
    reference: string | undefined,
    content: Buffer,
    subject?: Descriptor,
  ): Promise<{ desc: Descriptor; blobs: string[] }> {
    const config = await this.blob(repo, EMPTY_JSON, MEDIA_TYPES.ociEmpty)
    const layer = await this.blob(repo, content, MEDIA_TYPES.spdx)
    const value = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      artifactType: MEDIA_TYPES.spdx,
      config,
      layers: [{ ...layer, annotations: { 'org.opencontainers.image.title': 'sbom.spdx.json' } }],
      ...(subject
        ? { subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size } }
        : {}),
      annotations: { 'org.opencontainers.image.created': CREATED },
    }
    const body = json(value)
    const desc = await this.manifest(repo, reference ?? sha256(body), value)
    return { desc, blobs: [config.digest, layer.digest] }
  }
}

function spdxDocument(name: string): Buffer {
  return json({
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name,
    documentNamespace: `https://example.invalid/spdx/${randomBytes(8).toString('hex')}`,
    creationInfo: { created: CREATED, creators: ['Tool: imgsync-test-fixtures'] },
    packages: [{ SPDXID: 'SPDXRef-Package-busybox', name: 'busybox', versionInfo: '1.36.1' }],
  })
}

/**
 * Seeds a registry with one of each kind of content imgsync must copy. Every call uses fresh random layers,
 * so digests differ between calls. Returns every tagged manifest plus the untagged SBOM referrer.
 */
export async function pushFixtureSet(base: string, prefix = '', auth?: BasicAuth): Promise<Fixture[]> {
  const p = new FixturePusher(base, auth)
  const out: Fixture[] = []
  const add = (
    repo: string,
    tag: string | undefined,
    kind: FixtureKind,
    desc: Descriptor,
    extra: Partial<Fixture>,
  ) =>
    out.push({
      repo,
      tag,
      kind,
      digest: desc.digest,
      mediaType: desc.mediaType,
      size: desc.size,
      blobs: [],
      ...extra,
    })

  const baseLayer = randomLayer()

  const ociImage = async () => {
    const repo = `${prefix}oci-image`
    const v1 = await p.image(repo, 'v1', { layers: [baseLayer, randomLayer()], cmd: ['/bin/app', '--v1'] })
    add(repo, 'v1', 'oci-image', v1.desc, { blobs: v1.blobs })
    const v2 = await p.image(repo, 'v2', { layers: [baseLayer, randomLayer()], cmd: ['/bin/app', '--v2'] })
    add(repo, 'v2', 'oci-image', v2.desc, { blobs: v2.blobs })

    const subjectTag = `sha256-${v1.desc.digest.slice('sha256:'.length)}`
    // distribution 2.8 has no referrers API and ignores `subject`; clients fall back to the tag schema.
    const sbom = await p.artifact(repo, undefined, spdxDocument('oci-image-v1'), v1.desc)
    add(repo, undefined, 'referrer', sbom.desc, { blobs: sbom.blobs, subject: v1.desc.digest })
    const referrers = await p.manifest(repo, subjectTag, {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: [
        {
          ...sbom.desc,
          artifactType: MEDIA_TYPES.spdx,
          annotations: { 'org.opencontainers.image.created': CREATED },
        },
      ],
    })
    add(repo, subjectTag, 'referrers-tag-index', referrers, {
      children: [sbom.desc.digest],
      subject: v1.desc.digest,
    })

    const payload = json({
      critical: {
        identity: { 'docker-reference': `${new URL(base).host}/${repo}` },
        image: { 'docker-manifest-digest': v1.desc.digest },
        type: 'cosign container image signature',
      },
      optional: null,
    })
    const payloadDesc = await p.blob(repo, payload, MEDIA_TYPES.cosignSimpleSigning)
    const sigConfig = await p.blob(
      repo,
      json({
        architecture: '',
        os: '',
        config: {},
        rootfs: { type: 'layers', diff_ids: [payloadDesc.digest] },
      }),
      MEDIA_TYPES.ociConfig,
    )
    const sig = await p.manifest(repo, `${subjectTag}.sig`, {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: sigConfig,
      layers: [
        {
          ...payloadDesc,
          annotations: { 'dev.cosignproject.cosign/signature': randomBytes(70).toString('base64') },
        },
      ],
    })
    add(repo, `${subjectTag}.sig`, 'cosign-signature', sig, {
      blobs: [sigConfig.digest, payloadDesc.digest],
      subject: v1.desc.digest,
    })
  }

  const dockerImage = async () => {
    const repo = `${prefix}docker-image`
    const img = await p.image(repo, '1.0', { docker: true, layers: [randomLayer(), randomLayer()] })
    add(repo, '1.0', 'docker-image', img.desc, { blobs: img.blobs })
  }

  /** An index of linux/amd64 and linux/arm64/v8 images: OCI, or a Docker manifest list. */
  const twoPlatforms = async (name: string, tag: string, docker: boolean, kind: FixtureKind) => {
    const repo = `${prefix}${name}`
    const idx = await p.index(repo, tag, docker, [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ])
    add(repo, tag, kind, idx.desc, { children: idx.children })
  }
  const multiArch = () => twoPlatforms('multi-arch', 'latest', false, 'oci-index')
  const dockerList = () => twoPlatforms('docker-list', '1', true, 'docker-list')

  const helmChart = async () => {
    const repo = `${prefix}charts/mychart`
    const chart = await p.chart(repo, '0.1.0')
    add(repo, '0.1.0', 'helm-chart', chart.desc, { blobs: chart.blobs })
  }

  const artifact = async () => {
    const repo = `${prefix}artifacts/sbom`
    const a = await p.artifact(repo, '1.0', spdxDocument('standalone'))
    add(repo, '1.0', 'oci-artifact', a.desc, { blobs: a.blobs })
  }

  const nested = async () => {
    const repo = `${prefix}team-a/sub/deep/svc`
    const img = await p.image(repo, '1.0', { layers: [baseLayer, randomLayer()], cmd: ['/svc'] })
    add(repo, '1.0', 'nested-repo', img.desc, { blobs: img.blobs })
  }

  // Repositories are independent, so seed them concurrently; within one, children go before their index.
  await Promise.all([ociImage(), dockerImage(), multiArch(), dockerList(), helmChart(), artifact(), nested()])
  // Stable order regardless of which push finished first.
  out.sort((a, b) => a.repo.localeCompare(b.repo) || (a.tag ?? '').localeCompare(b.tag ?? ''))
  return out
}

/** A source registry holding the fixture set, and an empty target registry; the caller stops both. */
export async function startFixtureRegistries(): Promise<{
  src: RunningRegistry
  dst: RunningRegistry
  fixtures: Fixture[]
}> {
  const [src, dst] = await Promise.all([startRegistry(), startRegistry()])
  return { src, dst, fixtures: await pushFixtureSet(src.url) }
}

/** One small OCI image at repo:tag (a fresh layer each time), for tests that need particular names. */
export async function pushImage(base: string, repo: string, tag: string, auth?: BasicAuth): Promise<string> {
  const { desc } = await new FixturePusher(base, auth).image(repo, tag, { layers: [randomLayer()] })
  return desc.digest
}

/** One Helm chart at repo:version. */
export async function pushChart(
  base: string,
  repo: string,
  version: string,
  auth?: BasicAuth,
): Promise<string> {
  const { desc } = await new FixturePusher(base, auth).chart(repo, version)
  return desc.digest
}

/** An SBOM-like artifact whose subject is `subject`, pushed by digest (untagged), as `oras attach` does. */
export async function pushReferrer(
  base: string,
  repo: string,
  subject: { mediaType: string; digest: string; size: number },
  name: string,
  auth?: BasicAuth,
): Promise<{ mediaType: string; digest: string; size: number; artifactType: string }> {
  const { desc } = await new FixturePusher(base, auth).artifact(repo, undefined, spdxDocument(name), subject)
  return { ...desc, artifactType: MEDIA_TYPES.spdx }
}
