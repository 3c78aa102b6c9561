import { createHash } from 'node:crypto'

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`
}

/** Verifies bytes against a digest of any supported algorithm. */
export function digestMatches(bytes: Uint8Array, digest: string): boolean {
  const [alg, hex] = digest.split(':')
  if (alg !== 'sha256' && alg !== 'sha512') return false
  return createHash(alg).update(bytes).digest('hex') === hex
}
