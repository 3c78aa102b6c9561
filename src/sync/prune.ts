import { ImgsyncError } from '../errors.js'
import type { RegistryApi } from '../registry/api.js'
import type { TagFilter } from '../rules/schema.js'
import { selectSyncTags } from './select-tags.js'

/** One target repository to prune: tags within the filter that the source no longer has. */
export interface PruneScope {
  dst: RegistryApi
  dstRepo: string
  /** display form of the target repository (host/repo) */
  target: string
  /** every tag the source repository has now */
  sourceTags: string[]
  /** the task's tag filter; `latest` is ignored (older tags that still exist are not stale) */
  filter?: TagFilter
}

export interface PruneCandidate {
  scope: PruneScope
  tag: string
  digest?: string
  /** why it is kept after all */
  keep?: string
}

/**
 * Stale target tags: within the filter, not at the source, and never referrer tags (those go with
 * their subject). A tag whose digest another kept tag shares is kept: distribution can delete a
 * manifest only by digest, which would take the other tag with it.
 */
export async function findStaleTags(scopes: PruneScope[]): Promise<PruneCandidate[]> {
  const out: PruneCandidate[] = []
  for (const scope of scopes) {
    const targetTags = await scope.dst.listTags(scope.dstRepo).catch((err) => {
      if (err instanceof ImgsyncError && err.code === 'NOT_FOUND') return [] as string[]
      throw err
    })
    const source = new Set(scope.sourceTags)
    const { latest: _ignored, ...filter } = scope.filter ?? {}
    const inScope = selectSyncTags(filter, targetTags).selected
    const stale = inScope.filter((t) => !source.has(t))
    if (stale.length === 0) continue
    const digests = new Map<string, string>()
    for (const tag of targetTags) {
      const info = await scope.dst.headManifest(scope.dstRepo, tag)
      if (info) digests.set(tag, info.digest)
    }
    const staleSet = new Set(stale)
    for (const tag of stale) {
      const digest = digests.get(tag)
      const sharer = targetTags.find((t) => !staleSet.has(t) && digests.get(t) === digest)
      out.push({ scope, tag, digest, ...(sharer && { keep: `shares its digest with kept tag ${sharer}` }) })
    }
  }
  return out
}

export function pruneLimitError(count: number, max: number): ImgsyncError {
  return new ImgsyncError(
    'PRUNE_LIMIT',
    `prune would delete ${count} tags, more than --max-delete ${max}; nothing was deleted`,
    {
      suggestions: ['check the plan with --dry-run, then raise --max-delete if it is right'],
    },
  )
}
