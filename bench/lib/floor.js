// The round-trip floor of a WAN scenario: the least time the requests that must happen allow.
//
//   floor = max over each registry and lane of ceil(its required requests / the lane's limit) × delay
//
// with the lanes imgsync runs each registry in at --concurrency N: blob transfers (a blob GET at the
// source, an upload's closing PUT at the target) N at once, every other request 4 × N (at most 256;
// src/sync/registries.ts laneLimits), and the delay the link proxies add to every request
// (--wan-delay). With a bandwidth cap (--wan-bandwidth) the floor is at least the unique blob bytes /
// bandwidth. It leaves out everything else a copy costs (start-up, ordering between requests,
// throughput, CPU), so no tool can beat it and a tool near it loses little to the link.
import { ratio } from './format.js'
import { median } from './measure.js'
import { scenario } from './summary.js'

/**
 * The requests that must happen, by side, for a scenario on a corpus summary:
 * - cold: at the source one tag list per repository, one manifest GET per manifest (tags and the
 *   children of an index) and one blob GET per unique blob; at the target one upload per unique
 *   blob (counted as its closing upload PUT, however many requests the upload takes) and one manifest PUT
 *   per manifest. Mounts of a blob into further repositories are not counted.
 * - noop: one tag list per repository on each side, and one check (manifest HEAD) per tag at the source.
 * - big: one image of one layer: the cold sync of 1 manifest and 2 blobs, with no tag list.
 */
export function requiredRequests(kind, corpus) {
  if (kind === 'cold')
    return {
      source: {
        'tag list': corpus.repositories,
        'manifest GET': corpus.manifests,
        'blob GET': corpus.uniqueBlobs,
      },
      target: { 'upload PUT': corpus.uniqueBlobs, 'manifest PUT': corpus.manifests },
    }
  if (kind === 'noop')
    return {
      source: { 'tag list': corpus.repositories, 'manifest HEAD': corpus.tags },
      target: { 'tag list': corpus.repositories },
    }
  if (kind === 'big')
    return { source: { 'manifest GET': 1, 'blob GET': 2 }, target: { 'upload PUT': 2, 'manifest PUT': 1 } }
  throw new Error(`no required requests for ${kind}`)
}

const sum = (counts) => Object.values(counts).reduce((n, x) => n + x, 0)

/** The lanes imgsync gives each registry at `concurrency` when its entry does not say. */
export function imgsyncLanes(concurrency) {
  return { requests: Math.min(256, 4 * concurrency), blobs: concurrency }
}

/** Requests of these kinds go in a registry's blob-transfer lane; every other kind in its requests lane. */
const TRANSFER_KINDS = new Set(['blob GET', 'upload PUT'])

/** The floor of `required` with each registry's `lanes` in flight, `delayMs` each. */
export function roundTripFloor(required, { lanes, delayMs, bandwidth = 0, bytes = 0 }) {
  const requests = sum(required.source) + sum(required.target)
  let roundTrips = 0
  for (const counts of [required.source, required.target]) {
    let transfers = 0
    for (const [kind, n] of Object.entries(counts)) if (TRANSFER_KINDS.has(kind)) transfers += n
    const others = sum(counts) - transfers
    roundTrips = Math.max(roundTrips, Math.ceil(transfers / lanes.blobs), Math.ceil(others / lanes.requests))
  }
  const roundTripMs = roundTrips * delayMs
  const transferMs = bandwidth > 0 ? Math.round((bytes / bandwidth) * 1000) : 0
  return {
    required,
    requests,
    lanes,
    delayMs,
    roundTrips,
    roundTripMs,
    transferMs,
    floorMs: Math.max(roundTripMs, transferMs),
  }
}

/** Median requests by kind over runs, at one side ('source' or 'target') of the links. */
function medianKinds(runs, side) {
  const kinds = new Set(runs.flatMap((r) => Object.keys(r.link[side].byKind)))
  const out = { all: median(runs.map((r) => r.link[side].requests)) }
  for (const k of kinds) out[k] = median(runs.map((r) => r.link[side].byKind[k] ?? 0))
  // connections the tool opened (set-up is free on these links; on a real one each costs a round trip or more)
  out.connections = median(runs.map((r) => r.link[side].connections))
  return out
}

/**
 * A WAN scenario's results: what scenario() gives, plus for each tool the requests by kind at each
 * side (medians over its good runs), and the floor with each tool's time against it.
 */
export function wanScenario(runs, uniqueBlobBytes, floor, extra = {}) {
  const s = scenario(runs, uniqueBlobBytes, { ...extra, floor })
  for (const [tool, list] of Object.entries(runs)) {
    if (!s[tool] || list.length === 0) continue
    const ok = list.filter((r) => r.ok && r.link)
    const use = ok.length > 0 ? ok : list.filter((r) => r.link)
    if (use.length > 0)
      s[tool].requests = { source: medianKinds(use, 'source'), target: medianKinds(use, 'target') }
    s[tool].vsFloor = ratio(s[tool].wallMs, floor.floorMs)
  }
  return s
}
