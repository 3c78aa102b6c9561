import { ImgsyncError } from '../errors.js'
import { type Descriptor, type Platform, platformString } from '../registry/media-types.js'

// Platform subsets of an index: pure.

const PLATFORM = /^([a-z0-9]+)\/([a-z0-9_]+)(?:\/([a-z0-9.]+))?$/

/** Parses `os/arch[/variant]` as typed after --platform. */
export function parsePlatform(text: string): Platform {
  const m = PLATFORM.exec(text.trim())
  if (!m) {
    throw new ImgsyncError(
      'INVALID_ARGUMENT',
      `--platform "${text}": expected os/arch or os/arch/variant, e.g. linux/arm64/v8`,
    )
  }
  return { os: m[1]!, architecture: m[2]!, ...(m[3] !== undefined && { variant: m[3] }) }
}

function matches(want: Platform, have: Platform | undefined): boolean {
  if (!have) return false
  if (want.os !== have.os || want.architecture !== have.architecture) return false
  return want.variant === undefined || want.variant === have.variant
}

/**
 * The index bytes with only the wanted platforms' children. The result is a new document (new
 * digest); the other fields are kept as they were. Throws NOT_FOUND when nothing matches.
 */
export function filterIndex(
  bytes: Buffer,
  wanted: Platform[],
  what: string,
): { bytes: Buffer; kept: Descriptor[] } {
  const json = JSON.parse(bytes.toString('utf8')) as { manifests?: Descriptor[] }
  const kept = (json.manifests ?? []).filter((d) => wanted.some((w) => matches(w, d.platform)))
  if (kept.length === 0) {
    const have = (json.manifests ?? []).map((d) =>
      [d.platform?.os, d.platform?.architecture, d.platform?.variant].filter(Boolean).join('/'),
    )
    throw new ImgsyncError(
      'NOT_FOUND',
      `${what} has none of the platforms ${wanted.map(platformString).join(', ')}`,
      {
        suggestions: [`it has: ${have.join(', ') || 'no platform entries'}`],
      },
    )
  }
  if (kept.length === json.manifests?.length) return { bytes, kept }
  return { bytes: Buffer.from(JSON.stringify({ ...json, manifests: kept })), kept }
}
