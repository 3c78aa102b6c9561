import type { Readable } from 'node:stream'
import type { Descriptor } from './media-types.js'

/** Bytes a blob stream may buffer per stage (per blob in flight): room for a few 64 KiB chunks. */
export const BLOB_STREAM_BUFFER = 256 * 1024

export interface ManifestInfo {
  digest: string
  mediaType: string
  size: number
}

export interface Manifest extends ManifestInfo {
  /** the exact bytes the registry stored: the digest is computed over them, never re-serialised */
  bytes: Buffer
}

/** An upload session a failed mount left open, to be used instead of starting another. */
export type MountResult = { mounted: true } | { mounted: false; session?: string }

export interface PutManifestResult {
  digest: string
  /** the registry answered with OCI-Subject, so it indexes referrers itself */
  subjectHandled: boolean
}

/** What a backend can do; the copy engine asks these, never what kind of backend it is. */
export interface RegistryCapabilities {
  /** cross-repository blob mounts (POST ?mount=&from=) */
  mount: boolean
  /** may answer the OCI referrers API (else only the tag-schema fallback exists) */
  referrersApi: boolean
  /** target tags may be remembered across runs (not for a directory that can be swapped whole) */
  rememberTags: boolean
  /** manifests can be deleted (prune) */
  delete: boolean
}

/**
 * What the copy engine needs from a registry. Implemented over HTTP (distribution API) and, later,
 * over an OCI image layout directory; unit tests use an in-memory one.
 */
export interface RegistryApi {
  /** display name and identity: two APIs with the same name are the same registry (mounts work) */
  readonly name: string
  readonly capabilities: RegistryCapabilities
  /** undefined when the manifest does not exist */
  headManifest(repo: string, reference: string): Promise<ManifestInfo | undefined>
  getManifest(repo: string, reference: string): Promise<Manifest>
  putManifest(repo: string, reference: string, bytes: Buffer, mediaType: string): Promise<PutManifestResult>
  deleteManifest(repo: string, digest: string): Promise<void>
  hasBlob(repo: string, digest: string): Promise<boolean>
  /** a readable of the blob's bytes; the caller verifies digest and size */
  getBlob(repo: string, desc: Descriptor): Promise<Readable>
  /** stores the blob from `body` (exactly desc.size bytes), reusing `session` if a mount left one */
  putBlob(repo: string, desc: Descriptor, body: Readable, session?: string): Promise<void>
  mountBlob(repo: string, digest: string, fromRepo: string): Promise<MountResult>
  listTags(repo: string): Promise<string[]>
  /** every repository, where the registry offers a catalog */
  listRepositories(): Promise<string[]>
  /** manifests whose subject is `digest` (OCI referrers API); undefined when the API is missing */
  referrers(repo: string, digest: string): Promise<Descriptor[] | undefined>
  /** requests sent and 429 answers received so far, where the backend talks HTTP */
  requestStats?(): { requests: number; rateLimited: number }
}
