// Where `sync tag` / `sync repo` read or write: a registry reference, or an OCI image layout
// directory written as oci:PATH[:TAG][@DIGEST] (skopeo's spelling). Pure, no I/O.
import { ImgsyncError } from '../errors.js'
import { isValidDigest, isValidTag } from './names.js'
import { formatReference, parseReference, type Reference } from './reference.js'

export type Location =
  | { kind: 'registry'; ref: Reference }
  /** `path` as typed (relative paths are relative to the working directory) */
  | { kind: 'oci'; path: string; tag?: string; digest?: string }

export const OCI_PREFIX = 'oci:'

const LOOKS_LIKE_DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:/

function invalid(input: string, why: string): ImgsyncError {
  return new ImgsyncError('INVALID_REFERENCE', `invalid location ${JSON.stringify(input)}: ${why}`, {
    suggestions: ['write a layout as oci:PATH, oci:PATH:TAG or oci:PATH@sha256:<64 hex>'],
  })
}

/**
 * `oci:PATH`, `oci:PATH:TAG` or `oci:PATH@DIGEST` is a layout; anything else goes to parseReference.
 * The tag is what follows the last ':' when that contains no '/' (so oci:/mnt/a:b/dir is a path);
 * the digest is what follows the last '@' when it looks like alg:hex (so oci:./@scope/dir is a path).
 */
export function parseLocation(text: string): Location {
  const input = text.trim()
  if (!input.startsWith(OCI_PREFIX)) return { kind: 'registry', ref: parseReference(input) }

  let rest = input.slice(OCI_PREFIX.length)
  if (rest.startsWith('//')) throw invalid(text, 'write oci:PATH, without //')
  let digest: string | undefined
  const at = rest.lastIndexOf('@')
  if (at >= 0 && LOOKS_LIKE_DIGEST.test(rest.slice(at + 1))) {
    digest = rest.slice(at + 1)
    rest = rest.slice(0, at)
    if (!isValidDigest(digest)) {
      throw invalid(text, `"${digest}" is not a digest (sha256:<64 lowercase hex>)`)
    }
  }
  let tag: string | undefined
  const colon = rest.lastIndexOf(':')
  if (colon >= 0 && !rest.slice(colon + 1).includes('/')) {
    tag = rest.slice(colon + 1)
    rest = rest.slice(0, colon)
    if (tag === '') throw invalid(text, 'the tag after ":" is empty')
    if (!isValidTag(tag)) {
      throw invalid(
        text,
        `"${tag}" is not a valid tag (letters, digits, _ . -; at most 128; not starting with . or -)`,
      )
    }
  }
  if (rest === '') throw invalid(text, 'the directory is missing (oci:PATH)')
  if (rest.includes('\0')) throw invalid(text, 'the directory contains a NUL character')
  return {
    kind: 'oci',
    path: rest,
    ...(tag !== undefined && { tag }),
    ...(digest !== undefined && { digest }),
  }
}

/** The inverse of parseLocation, for messages and records. */
export function formatLocation(loc: Location): string {
  if (loc.kind === 'registry') return formatReference(loc.ref)
  let out = `${OCI_PREFIX}${loc.path}`
  if (loc.tag !== undefined) out += `:${loc.tag}`
  if (loc.digest !== undefined) out += `@${loc.digest}`
  return out
}
