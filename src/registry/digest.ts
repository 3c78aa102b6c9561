import { createHash } from 'node:crypto'
import { isValidDigest } from './names.js'

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`
}

/** Verifies bytes against a digest of a registered algorithm; a malformed digest never matches. */
export function digestMatches(bytes: Uint8Array, digest: string): boolean {
  if (!isValidDigest(digest)) return false
  const [alg, hex] = digest.split(':') as [string, string]
  return createHash(alg).update(bytes).digest('hex') === hex
}
