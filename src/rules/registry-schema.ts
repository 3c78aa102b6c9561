import * as z from 'zod'
import { MAX_LANE } from '../registry/host-throttle.js'
import { parseByteSize } from '../text.js'
import { hostError } from './checks.js'
import { checkedString } from './schema-checks.js'

// registries.NAME in the rule file: a host (credentials, TLS, concurrency, limits, uploads) or an
// OCI layout directory. Every object is strict: a misspelt key is an error.

/** A positive whole number; `what` says what it counts, in the error. */
export const positiveInt = (what: string) =>
  z
    .number()
    .int({ error: `must be a positive whole number (${what})` })
    .positive({ error: `must be a positive whole number (${what})` })

const TlsSchema = z.strictObject({
  ca: z
    .string()
    .min(1)
    .optional()
    .meta({ description: 'PEM file of the CA that signed the registry certificate.' }),
  cert: z.string().min(1).optional().meta({ description: 'Client certificate (PEM) for mutual TLS.' }),
  key: z.string().min(1).optional().meta({ description: 'Client key (PEM) for mutual TLS.' }),
  insecure: z.boolean().optional().meta({ description: 'Use TLS but do not verify the certificate.' }),
  plainHttp: z.boolean().optional().meta({ description: 'Plain HTTP, no TLS.' }),
})

/** A size or rate in bytes: a number, or text with k/M/G (1024-based), e.g. "50M". */
const byteSize = (what: string) =>
  z.union([z.number(), z.string()]).transform((value, ctx) => {
    const bytes = parseByteSize(value)
    if (bytes === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `invalid ${what} ${JSON.stringify(value)}`,
        params: { detail: 'write bytes, or a number with k, M or G (1024-based), e.g. "50M"' },
      })
      return z.NEVER
    }
    return bytes
  })

const LimitsSchema = z
  .strictObject({
    requestsPerSecond: z
      .number()
      .positive({ error: 'must be a positive number (requests started per second)' })
      .optional()
      .meta({ description: 'Requests started per second at most, to this registry.' }),
    bandwidth: byteSize('bandwidth')
      .optional()
      .meta({ description: 'Blob bytes per second at most, to or from this registry (k/M/G, e.g. "50M").' }),
  })
  .meta({ description: 'Limits you set for this registry, beyond what it says itself (429, Retry-After).' })

const UploadSchema = z
  .strictObject({
    chunkSize: byteSize('chunk size')
      .optional()
      .meta({ description: 'Blobs larger than this go up in chunks of this size (PATCH), e.g. "16M".' }),
  })
  .meta({ description: 'How blobs are uploaded to this registry.' })

const laneLimit = (what: string) => positiveInt(what).max(MAX_LANE, { error: `must be at most ${MAX_LANE}` })

/**
 * How much goes to this registry at once: a number for both lanes, or each lane on its own.
 * Unset: blob transfers follow --concurrency, requests four times that.
 */
const ConcurrencySchema = z
  .union([
    laneLimit('requests and blob transfers in flight to this registry').meta({
      description:
        'Requests and blob transfers in flight to this registry, each (default: blobs --concurrency, requests 4 × --concurrency).',
    }),
    z.strictObject({
      requests: laneLimit('requests in flight to this registry').optional().meta({
        description:
          'Requests waiting for an answer at once (HEADs, manifests, tag lists, referrers, a blob download until its bytes start): each costs a round trip, little bandwidth (default: 4 × --concurrency, at most 256).',
      }),
      blobs: laneLimit('blob transfers in flight to or from this registry').optional().meta({
        description:
          'Blob transfers in flight at once, a download from or an upload to this registry, first request to last byte (default: --concurrency).',
      }),
    }),
  ])
  .meta({
    description:
      'In flight at once to this registry: a number for requests and blob transfers alike, or { requests, blobs }.',
  })

/** The lanes an entry's `concurrency` sets (a number sets both). */
export function entryLanes(
  concurrency: RegistryEntry['concurrency'],
): { requests?: number; blobs?: number } | undefined {
  if (concurrency === undefined) return undefined
  return typeof concurrency === 'number' ? { requests: concurrency, blobs: concurrency } : concurrency
}

export const RegistryEntrySchema = z
  .strictObject({
    host: checkedString(hostError, 'host').optional().meta({ description: 'host[:port] of the registry.' }),
    'oci-layout': z
      .strictObject({ path: z.string().min(1, { error: 'must not be empty' }) })
      .optional()
      .meta({ description: 'An OCI image layout directory instead of a host (air-gapped transfer).' }),
    credentials: z.strictObject({ username: z.string(), password: z.string() }).optional().meta({
      description: `Omitted: docker config (~/.docker/config.json) or anonymous. Use \${ENV} for secrets.`,
    }),
    tls: TlsSchema.optional(),
    concurrency: ConcurrencySchema.optional(),
    limits: LimitsSchema.optional(),
    upload: UploadSchema.optional(),
  })
  .superRefine((entry, ctx) => {
    const hasHost = entry.host !== undefined
    const hasLayout = entry['oci-layout'] !== undefined
    if (hasHost === hasLayout) {
      ctx.addIssue({
        code: 'custom',
        message: hasHost ? 'has both host and oci-layout' : 'needs host or oci-layout',
        params: { detail: 'give exactly one of host: HOST[:PORT] or oci-layout: { path: DIR }' },
      })
    }
    const hostOnly = (['credentials', 'tls', 'concurrency', 'limits', 'upload'] as const).find(
      (k) => entry[k] !== undefined,
    )
    if (hasLayout && hostOnly) {
      const key = hostOnly
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: 'only applies to a registry with host, not oci-layout',
      })
    }
    const tls = entry.tls
    if (!tls) return
    for (const mode of ['insecure', 'plainHttp'] as const) {
      if (tls[mode] && tls.ca !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['tls', mode],
          message: `cannot be combined with tls.ca`,
          params: {
            detail:
              mode === 'insecure'
                ? 'with a CA, verify instead of skipping verification'
                : 'plain HTTP uses no CA',
          },
        })
      }
    }
    if (tls.insecure && tls.plainHttp) {
      ctx.addIssue({
        code: 'custom',
        path: ['tls', 'plainHttp'],
        message: 'choose one of tls.insecure and tls.plainHttp',
      })
    }
    if ((tls.cert === undefined) !== (tls.key === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['tls', tls.cert === undefined ? 'key' : 'cert'],
        message: 'tls.cert and tls.key go together (client certificate for mutual TLS)',
      })
    }
  })

export type RegistryEntry = z.output<typeof RegistryEntrySchema>
