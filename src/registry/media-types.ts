// Media types and the graph edges of a manifest: pure, no I/O.
import { ImgsyncError } from '../errors.js'
import { checkDigest } from './names.js'

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

function malformed(where: string, what: string): ImgsyncError {
  return new ImgsyncError('MANIFEST_INVALID', `${where}: ${what}`, {
    suggestions: ['the registry sent a broken manifest; it cannot be copied as it is'],
  })
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/**
 * A descriptor checked before anything uses it: its digest goes into URLs and file paths, its size
 * bounds a stream. The object itself is kept as it is (extra fields travel along).
 */
function descriptor(v: unknown, field: string, where: string): Descriptor {
  if (!isObject(v)) throw malformed(where, `${field} is not a descriptor object`)
  if (v.mediaType !== undefined && typeof v.mediaType !== 'string')
    throw malformed(where, `${field}.mediaType is not a string`)
  checkDigest(v.digest, `${where}: ${field}.digest`)
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0)
    throw malformed(where, `${field}.size is not a whole number of bytes`)
  if (v.urls !== undefined && !Array.isArray(v.urls)) throw malformed(where, `${field}.urls is not a list`)
  return v as unknown as Descriptor
}

function descriptors(v: unknown, field: string, where: string): Descriptor[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v)) throw malformed(where, `"${field}" is not a list`)
  return v.map((d, i) => descriptor(d, `${field}[${i}]`, where))
}

/**
 * Parses manifest bytes; `headerType` is the Content-Type the registry sent, used when the JSON has
 * none; `where` names the manifest in errors. Anything that is not the JSON a manifest must be
 * throws MANIFEST_INVALID, a malformed digest INVALID_REFERENCE.
 */
export function parseManifest(bytes: Uint8Array, headerType?: string, where = 'manifest'): ParsedManifest {
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch {
    throw malformed(where, 'the manifest is not valid JSON')
  }
  if (!isObject(json)) throw malformed(where, 'the manifest is not a JSON object')
  let mediaType = typeof json.mediaType === 'string' ? json.mediaType : (headerType ?? '')
  if (mediaType === '' && Array.isArray(json.manifests)) mediaType = MediaTypes.ociIndex
  if (mediaType === '' && json.config !== undefined) mediaType = MediaTypes.ociManifest
  if (json.schemaVersion === 1) mediaType = MediaTypes.dockerSchema1
  const schema1 = mediaType === MediaTypes.dockerSchema1
  return {
    mediaType,
    // schema 1 is refused by the caller with its own message; its fields are not descriptors
    manifests: schema1 ? [] : descriptors(json.manifests, 'manifests', where),
    config: schema1 || json.config == null ? undefined : descriptor(json.config, 'config', where),
    layers: schema1 ? [] : descriptors(json.layers, 'layers', where),
    subject: schema1 || json.subject == null ? undefined : descriptor(json.subject, 'subject', where),
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
