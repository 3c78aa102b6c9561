// Bounds on what a registry may make imgsync read, keep or wait for. A registry on the other end
// of a sync is not trusted to be well-behaved: every body, list and wait is bounded, and going past
// a bound fails the request with LIMIT_EXCEEDED (or TIMEOUT) instead of growing memory or time.
// README "Security model" documents these defaults.

const MiB = 1024 * 1024

export const LIMITS = {
  /** one manifest, index or referrers answer (distribution itself accepts at most 4 MiB) */
  manifestBytes: 8 * MiB,
  /** one page of a tag list or catalog */
  listPageBytes: 16 * MiB,
  /** pages of one tag list or catalog */
  listPages: 1000,
  /** names in one tag list or catalog */
  listEntries: 100_000,
  /** a token service's answer */
  tokenBytes: 1 * MiB,
  /** the part of an error answer that is read (the rest is dropped with the connection) */
  errorBodyBytes: 64 * 1024,
  /** a blob's declared size; larger ones are refused before any byte moves */
  blobBytes: 64 * 1024 * MiB,
  /** a blob body must move at least this many bytes in each window of `timeout` (slow-drip guard) */
  blobMinBytesPerWindow: 16 * 1024,
  /** indexes inside indexes below an image's root */
  indexDepth: 8,
  /** child manifests of one index */
  indexChildren: 4096,
  /** referrers of referrers (a signature of an SBOM of an image is 2) */
  referrerDepth: 8,
  /** referrers listed for one manifest */
  referrersPerManifest: 4096,
} as const

/** The default of IMGSYNC_TIMEOUT: how long to wait for an answer, or for an idle body. */
export const DEFAULT_TIMEOUT_MS = 30_000
/** a whole answer (headers and body) to anything but a blob, as a multiple of the timeout */
export const DEADLINE_PER_TIMEOUT = 2
