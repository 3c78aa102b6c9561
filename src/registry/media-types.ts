// Media types and the graph edges of a manifest: pure, no I/O.

export const MediaTypes = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  helmConfig: 'application/vnd.cncf.helm.config.v1+json',
} as const

/** Sent on every manifest request so the registry returns the stored bytes, never a down-conversion. */
export const MANIFEST_ACCEPT = [
  MediaTypes.ociIndex,
  MediaTypes.ociManifest,
  MediaTypes.dockerList,
  MediaTypes.dockerManifest,
].join(', ')

export interface Platform {
  os: string
  architecture: string
  variant?: string
}

export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  artifactType?: string
  annotations?: Record<string, string>
  platform?: Platform
  urls?: string[]
}

export function isIndexType(mediaType: string): boolean {
  return mediaType === MediaTypes.ociIndex || mediaType === MediaTypes.dockerList
}

export function isManifestType(mediaType: string): boolean {
  return mediaType === MediaTypes.ociManifest || mediaType === MediaTypes.dockerManifest
}

export function isSchema1(mediaType: string): boolean {
  return mediaType === MediaTypes.dockerSchema1 || mediaType === MediaTypes.dockerSchema1Signed
}

/** What a manifest's JSON says about itself; fields absent in the JSON stay undefined. */
export interface ParsedManifest {
  mediaType: string
  /** child manifests of an index / manifest list */
  manifests: Descriptor[]
  config?: Descriptor
  layers: Descriptor[]
  subject?: Descriptor
  artifactType?: string
}

/** Parses manifest bytes; `headerType` is the Content-Type the registry sent, used when the JSON has none. */
export function parseManifest(bytes: Uint8Array, headerType?: string): ParsedManifest {
  let json: Record<string, unknown>
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch {
    throw new Error('the manifest is not valid JSON')
  }
  if (json === null || typeof json !== 'object') throw new Error('the manifest is not a JSON object')
  let mediaType = typeof json.mediaType === 'string' ? json.mediaType : (headerType ?? '')
  if (mediaType === '' && Array.isArray(json.manifests)) mediaType = MediaTypes.ociIndex
  if (mediaType === '' && json.config !== undefined) mediaType = MediaTypes.ociManifest
  if (json.schemaVersion === 1) mediaType = MediaTypes.dockerSchema1
  return {
    mediaType,
    manifests: Array.isArray(json.manifests) ? (json.manifests as Descriptor[]) : [],
    config: json.config as Descriptor | undefined,
    layers: Array.isArray(json.layers) ? (json.layers as Descriptor[]) : [],
    subject: json.subject as Descriptor | undefined,
    artifactType: typeof json.artifactType === 'string' ? json.artifactType : undefined,
  }
}

/** Blobs a manifest needs in the target before it can be pushed (foreign layers with urls are left out). */
export function blobDescriptors(m: ParsedManifest): Descriptor[] {
  const out: Descriptor[] = []
  if (m.config) out.push(m.config)
  for (const layer of m.layers) if (!layer.urls || layer.urls.length === 0) out.push(layer)
  return out
}

export type ArtifactKind = 'image' | 'helm' | 'artifact'

/** image | helm | artifact, from the config media type and artifactType (indexes count as images). */
export function artifactKind(m: ParsedManifest): ArtifactKind {
  if (isIndexType(m.mediaType)) return m.artifactType ? 'artifact' : 'image'
  const configType = m.config?.mediaType
  if (configType === MediaTypes.helmConfig) return 'helm'
  if (m.artifactType) return 'artifact'
  if (configType === MediaTypes.ociConfig || configType === MediaTypes.dockerConfig) return 'image'
  return 'artifact'
}

export function platformString(p: Platform | undefined): string {
  if (!p) return 'unknown'
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/')
}
