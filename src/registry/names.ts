// The distribution grammar for the names a registry sends back (repositories, tags, digests), and
// the only way such names enter a URL path: checked, then encoded segment by segment. A name from
// a registry or a webhook is untrusted input: `../../victim/manifests/latest` as a tag must never
// become a path the HTTP client collapses into another repository. Pure, no I/O.
import { ImgsyncError } from '../errors.js'

/** One path component of a repository name. */
export const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*'
const COMPONENT = new RegExp(`^${PATH_COMPONENT}$`)
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/
/** Registered digest algorithms and the exact length of their hex encoding. */
const DIGEST = /^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/
/** distribution's limit on a repository name (without the host). */
export const MAX_REPOSITORY_LENGTH = 255

export function isValidTag(tag: unknown): tag is string {
  return typeof tag === 'string' && TAG.test(tag)
}

export function isValidDigest(digest: unknown): digest is string {
  return typeof digest === 'string' && DIGEST.test(digest)
}

export function isValidComponent(part: string): boolean {
  return COMPONENT.test(part)
}

/** A repository path: components joined by `/`; "" only where an OCI layout is one repository. */
export function isValidRepository(repo: unknown): repo is string {
  return (
    typeof repo === 'string' &&
    repo.length > 0 &&
    repo.length <= MAX_REPOSITORY_LENGTH &&
    repo.split('/').every((c) => COMPONENT.test(c))
  )
}

/** A name as it may appear in a message: quoted, control characters escaped, cut short. */
export function quoteName(name: unknown): string {
  const text = typeof name === 'string' ? name : String(name)
  const json = JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text)
  return json.replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

function invalidName(kind: string, name: unknown, where: string, rule: string): ImgsyncError {
  return new ImgsyncError('INVALID_REFERENCE', `${where}: ${quoteName(name)} is not a valid ${kind}`, {
    suggestions: [`a ${kind} is ${rule}; imgsync refuses other names from a registry`],
  })
}

const TAG_RULE = 'letters, digits, _ . - (at most 128, not starting with . or -)'
const REPOSITORY_RULE = 'lowercase path components joined by / (a-z 0-9, separated by . _ __ -)'
const DIGEST_RULE = 'sha256:<64 lowercase hex> or sha512:<128 lowercase hex>'

/** Throws INVALID_REFERENCE unless `tag` is a valid tag; `where` names who sent it. */
export function checkTag(tag: unknown, where: string): string {
  if (!isValidTag(tag)) throw invalidName('tag', tag, where, TAG_RULE)
  return tag
}

export function checkDigest(digest: unknown, where: string): string {
  if (!isValidDigest(digest)) throw invalidName('digest', digest, where, DIGEST_RULE)
  return digest
}

export function checkRepository(repo: unknown, where: string): string {
  if (!isValidRepository(repo)) throw invalidName('repository name', repo, where, REPOSITORY_RULE)
  return repo
}

/** A manifest reference: a digest when it has a ':', else a tag. */
export function checkManifestReference(reference: unknown, where: string): string {
  return typeof reference === 'string' && reference.includes(':')
    ? checkDigest(reference, where)
    : checkTag(reference, where)
}

/**
 * One checked name as a path segment, percent-encoded; ':' is a valid path character (RFC 3986
 * pchar) and stays as registries and proxies expect it in `sha256:<hex>`.
 */
function segment(name: string): string {
  return encodeURIComponent(name).replace(/%3A/g, ':')
}

/** `/v2/<repo>`: every component checked and encoded, so nothing is collapsed or injected. */
export function repositoryPath(repo: string, where: string): string {
  checkRepository(repo, where)
  return `/v2/${repo.split('/').map(segment).join('/')}`
}

/** `/v2/<repo>/manifests/<tag or digest>`. */
export function manifestPath(repo: string, reference: string, where: string): string {
  return `${repositoryPath(repo, where)}/manifests/${segment(checkManifestReference(reference, where))}`
}

/** `/v2/<repo>/blobs/<digest>`. */
export function blobPath(repo: string, digest: string, where: string): string {
  return `${repositoryPath(repo, where)}/blobs/${segment(checkDigest(digest, where))}`
}

/** `/v2/<repo>/referrers/<digest>`. */
export function referrersPath(repo: string, digest: string, where: string): string {
  return `${repositoryPath(repo, where)}/referrers/${segment(checkDigest(digest, where))}`
}
