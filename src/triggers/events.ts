import { isIndexType, isManifestType } from '../registry/media-types.js'

// Push notifications → "this tag was pushed": pure parsing of CNCF distribution and Harbor payloads.

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
}

interface DistributionEvent {
  id?: string
  action?: string
  target?: { mediaType?: string; digest?: string; repository?: string; tag?: string; url?: string }
  request?: { host?: string }
}

function hostOf(url: string | undefined): string | undefined {
  if (!url) return undefined
  try {
    return new URL(url).host
  } catch {
    return undefined
  }
}

const isManifest = (mediaType: string | undefined) =>
  mediaType !== undefined && (isManifestType(mediaType) || isIndexType(mediaType))

/** distribution `notifications.endpoints` envelope: `{"events": [...]}`. */
export function parseDistributionEvents(body: unknown): ParsedEvents {
  const events = (body as { events?: DistributionEvent[] })?.events
  if (!Array.isArray(events)) throw new Error('expected {"events": [...]}')
  const out: ParsedEvents = { pushes: [], ignored: 0 }
  for (const e of events) {
    const t = e.target
    const host = e.request?.host ?? hostOf(t?.url)
    if (e.action !== 'push' || !t?.repository || !t.tag || !isManifest(t.mediaType) || !host) {
      out.ignored++
      continue
    }
    out.pushes.push({
      id: e.id ?? `${host}/${t.repository}:${t.tag}@${t.digest}`,
      host,
      repository: t.repository,
      tag: t.tag,
      digest: t.digest,
    })
  }
  return out
}

interface HarborPayload {
  type?: string
  occur_at?: number
  event_data?: {
    resources?: { digest?: string; tag?: string; resource_url?: string }[]
    repository?: { repo_full_name?: string; namespace?: string; name?: string }
  }
}

/** Harbor webhook (Default format): PUSH_ARTIFACT with resources[] and the repository. */
export function parseHarborEvent(body: unknown): ParsedEvents {
  const p = body as HarborPayload
  if (!p || typeof p !== 'object' || typeof p.type !== 'string')
    throw new Error('expected a Harbor webhook payload')
  const out: ParsedEvents = { pushes: [], ignored: 0 }
  const resources = p.event_data?.resources ?? []
  if (p.type !== 'PUSH_ARTIFACT') {
    out.ignored += Math.max(1, resources.length)
    return out
  }
  const repo = p.event_data?.repository
  const repository =
    repo?.repo_full_name ?? (repo?.namespace && repo.name ? `${repo.namespace}/${repo.name}` : undefined)
  for (const r of resources) {
    // resource_url is host/namespace/name:tag, without a scheme
    const host = r.resource_url?.split('/')[0]
    if (!repository || !r.tag || !host) {
      out.ignored++
      continue
    }
    out.pushes.push({
      id: `harbor:${host}/${repository}:${r.tag}@${r.digest}:${p.occur_at}`,
      host,
      repository,
      tag: r.tag,
      digest: r.digest,
    })
  }
  return out
}
