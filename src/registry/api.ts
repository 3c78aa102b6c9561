import type { Readable } from 'node:stream'
import type { ByteRate } from './byte-rate.js'
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

/** An upload session: where to send the next bytes, and how many the registry holds. */
export interface BlobUpload {
  url: string
  offset: number
  /** the registry's OCI-Chunk-Min-Length: chunks (but the last) must be at least this long */
  minChunk?: number
}

/**
 * Chunked uploads (distribution-spec PATCH with Content-Range), for registries that take them:
 * used for big blobs, behind request-body limits, and to continue an upload that broke off.
 */
export interface ChunkedUploads {
  /** chunk size to use for this registry (configured, or learned from 413 answers); undefined: none */
  chunkSize?: number
  /** opens a session (or takes over the one a refused mount left) */
  begin(repo: string, session?: string): Promise<BlobUpload>
  /** sends `chunk` (its pieces in order) at upload.offset and moves the session on */
  append(repo: string, upload: BlobUpload, chunk: Buffer[]): Promise<void>
  /** how many bytes the registry holds for the session now; undefined when it is gone */
  status(repo: string, upload: BlobUpload): Promise<number | undefined>
  /** closes the session: the registry checks the whole blob against `digest` */
  commit(repo: string, upload: BlobUpload, digest: string): Promise<void>
  /** ends a session that will not be finished, so the registry does not keep its bytes */
  cancel(repo: string, upload: BlobUpload): Promise<void>
}

/** An upload session a failed mount left open, to be used instead of starting another. */
export type MountResult = { mounted: true } | { mounted: false; session?: string }

export interface PutManifestResult {
  digest: string
  /** the registry answered with OCI-Subject, so it indexes referrers itself */
  subjectHandled: boolean
}

export interface RequestCounts {
  requests: number
  retries: number
  rateLimited: number
  rateLimitWaitMs: number
  /** when a request last got an answer that was not a server error (ms) */
  lastOkAt?: number
  /** since when requests have failed (network, 5xx) with no success since (ms) */
  failingSince?: number
}

/**
 * A registry's blob-transfer slots (its `blobs` lane): a transfer holds one from its first request
 * to its last byte. `host` orders acquisition, so transfers between two registries never deadlock.
 */
export interface TransferSlots {
  readonly host: string
  /** waits for a slot; resolves with the function that frees it */
  transfer(signal?: AbortSignal): Promise<() => void>
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
  /**
   * A readable of the blob's bytes from `offset` on (default 0); the caller verifies digest and
   * size. A backend that cannot start mid-way reads from the start and skips to `offset`.
   */
  getBlob(repo: string, desc: Descriptor, offset?: number): Promise<Readable>
  /** stores the blob from `body` (exactly desc.size bytes), reusing `session` if a mount left one */
  putBlob(repo: string, desc: Descriptor, body: Readable, session?: string): Promise<void>
  mountBlob(repo: string, digest: string, fromRepo: string): Promise<MountResult>
  /** chunked uploads, where the backend has them */
  readonly uploads?: ChunkedUploads
  /** blob bytes per second to or from this registry, where a limit is set */
  readonly bandwidth?: ByteRate
  /** blob transfers in flight to or from this registry, where it bounds them */
  readonly transferSlots?: TransferSlots
  listTags(repo: string): Promise<string[]>
  /** every repository, where the registry offers a catalog */
  listRepositories(): Promise<string[]>
  /** manifests whose subject is `digest` (OCI referrers API); undefined when the API is missing */
  referrers(repo: string, digest: string): Promise<Descriptor[] | undefined>
  /** requests, retries, 429 answers and rate-limit waits so far, where the backend talks HTTP */
  requestStats?(): RequestCounts
}
