import { ImgsyncError, toImgsyncError } from '../errors.js'
import type { RegistryApi } from '../registry/api.js'
import type { TagFilter } from '../rules/schema.js'
import { selectSyncTags } from './select-tags.js'
import type { TaskSpec } from './task.js'
import type { TaskRecords } from './task-records.js'

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

const DEFAULT_MAX_DELETE = 10

/**
 * The prune step of a task: deletes stale target tags (or shows them, in a dry run), one record
 * each. An error that stops pruning as a whole (listing, PRUNE_LIMIT) is returned: it fails the task.
 */
export async function pruneStale(
  scopes: PruneScope[],
  spec: TaskSpec,
  run: TaskRecords,
): Promise<ImgsyncError | undefined> {
  let candidates: PruneCandidate[]
  try {
    candidates = await findStaleTags(scopes)
  } catch (err) {
    return toImgsyncError(err)
  }
  const doomed = candidates.filter((c) => !c.keep)
  const max = spec.maxDelete ?? DEFAULT_MAX_DELETE
  if (!spec.dryRun && doomed.length > max) return pruneLimitError(doomed.length, max)
  for (const c of candidates) {
    const t0 = Date.now()
    const where = {
      source: '-',
      target: `${c.scope.target}:${c.tag}`,
      repository: c.scope.dstRepo,
      tag: c.tag,
    }
    const digest = c.digest
    if (c.keep || spec.dryRun) {
      const status = c.keep ? 'excluded' : 'planned'
      run.record(run.item(where, { status, digest, reason: c.keep ?? 'would delete: not at the source' }, t0))
      continue
    }
    try {
      await c.scope.dst.deleteManifest(c.scope.dstRepo, c.digest!)
      run.task.deleted = (run.task.deleted ?? 0) + 1
      run.record(run.item(where, { status: 'deleted', digest, reason: 'not at the source' }, t0))
    } catch (raw) {
      run.record(run.item(where, { status: 'failed', digest, error: toImgsyncError(raw) }, t0))
    }
  }
  return undefined
}
