import { isIndexType, isManifestType } from '../registry/media-types.js'
import { isValidDigest, isValidRepository, isValidTag } from '../registry/names.js'

// Push notifications → "this tag was pushed": pure parsing of CNCF distribution and Harbor payloads.
// A webhook sender holding the token is still not trusted with names: every repository, tag and
// digest is checked against the distribution grammar, and counts come from real arrays only.

/** A tag push worth syncing. */
export interface PushEvent {
  /** for deduplication: distribution's event id, or a digest of the Harbor payload's fields */
  id: string
  /** registry host[:port] the push went to */
  host: string
  repository: string
  tag: string
  digest?: string
}

export interface ParsedEvents {
  pushes: PushEvent[]
  /** events that are not tag pushes of a manifest (pulls, mounts, blob pushes, pushes by digest) */
  ignored: number
  /** tag pushes whose repository, tag or digest is not a valid name: never synced */
  invalid: number
}

/** distribution's events per POST are few (its queue sends them as they come); more is not a payload */
const MAX_EVENTS = 10_000

const isManifest = (mediaType: unknown) =>
  typeof mediaType === 'string' && (isManifestType(mediaType) || isIndexType(mediaType))

function text(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined
}

function record(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined
}

/** host[:port] of an http(s) URL, or undefined. */
function hostOf(url: string | undefined): string | undefined {
  if (!url) return undefined
  try {
    const u = new URL(url)
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.host : undefined
  } catch {
    return undefined
  }
}

/** A host[:port] as a registry entry would name it: no path, userinfo or spaces. */
function validHost(host: string | undefined): string | undefined {
  return host && /^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/.test(host)
    ? host
    : undefined
}

function events(body: unknown, field: string, what: string): unknown[] {
  const list = record(body)?.[field]
  if (!Array.isArray(list)) throw new Error(`expected ${what}`)
  if (list.length > MAX_EVENTS) throw new Error(`more than ${MAX_EVENTS} events in one payload`)
  return list
}

/**
 * The push, once its names pass the grammar; undefined (counted invalid) otherwise. `id` dedupes
 * deliveries of the same event.
 */
function checkedPush(
  fields: { host: string; repository: string; tag: string; digest: unknown },
  id: (digest: string | undefined) => string,
  out: ParsedEvents,
): void {
  const { host, repository, tag, digest } = fields
  if (
    !isValidRepository(repository) ||
    !isValidTag(tag) ||
    (digest !== undefined && !isValidDigest(digest))
  ) {
    out.invalid++
    return
  }
  out.pushes.push({ id: id(digest), host, repository, tag, ...(digest !== undefined && { digest }) })
}

/** distribution `notifications.endpoints` envelope: `{"events": [...]}`. */
export function parseDistributionEvents(body: unknown): ParsedEvents {
  const out: ParsedEvents = { pushes: [], ignored: 0, invalid: 0 }
  for (const raw of events(body, 'events', '{"events": [...]}')) {
    const e = record(raw)
    const t = record(e?.target)
    const repository = text(t?.repository)
    const tag = text(t?.tag)
    const host = validHost(text(record(e?.request)?.host) ?? hostOf(text(t?.url)))
    if (e?.action !== 'push' || !repository || !tag || !isManifest(t?.mediaType) || !host) {
      out.ignored++
      continue
    }
    const fields = { host, repository, tag, digest: t?.digest }
    checkedPush(fields, (digest) => text(e.id) ?? `${host}/${repository}:${tag}@${digest}`, out)
  }
  return out
}

/** Harbor webhook (Default format): PUSH_ARTIFACT with resources[] and the repository. */
export function parseHarborEvent(body: unknown): ParsedEvents {
  const p = record(body)
  if (!p || typeof p.type !== 'string') throw new Error('expected a Harbor webhook payload')
  const data = record(p.event_data)
  const resources = data?.resources === undefined ? [] : events(data, 'resources', '"resources": [...]')
  const out: ParsedEvents = { pushes: [], ignored: 0, invalid: 0 }
  if (p.type !== 'PUSH_ARTIFACT') {
    out.ignored += Math.max(1, resources.length)
    return out
  }
  const repo = record(data?.repository)
  const namespace = text(repo?.namespace)
  const name = text(repo?.name)
  const repository = text(repo?.repo_full_name) ?? (namespace && name ? `${namespace}/${name}` : undefined)
  for (const raw of resources) {
    const r = record(raw)
    const tag = text(r?.tag)
    // resource_url is host/namespace/name:tag, without a scheme
    const host = validHost(text(r?.resource_url)?.split('/')[0])
    if (!repository || !tag || !host) {
      out.ignored++
      continue
    }
    const when = typeof p.occur_at === 'number' ? p.occur_at : 0
    const fields = { host, repository, tag, digest: r?.digest }
    checkedPush(fields, (digest) => `harbor:${host}/${repository}:${tag}@${digest}:${when}`, out)
  }
  return out
}
