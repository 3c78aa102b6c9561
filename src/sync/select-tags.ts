import { isReferrerTag } from '../copy/referrers.js'
import { isValidTag } from '../registry/names.js'
import { selectTags } from '../rules/match.js'
import type { TagFilter } from '../rules/schema.js'

export interface SyncTagSelection {
  selected: string[]
  excluded: { tag: string; reason: string }[]
  /** names the registry listed that are not valid tags, yet pass the include/exclude filters */
  invalid: string[]
}

/**
 * The tags a task copies as items. Referrer tags (`sha256-<hex>` fallback indexes, cosign
 * `.sig/.att/.sbom`) travel with their subject instead: copied as tags they would overwrite the
 * target's merged fallback index. A listed name that is not a valid tag is never selected; when the
 * filters would have taken it, it is reported as `invalid` (a failed item), else left out quietly.
 */
export function selectSyncTags(filter: TagFilter | undefined, tags: string[]): SyncTagSelection {
  const valid = tags.filter((t) => isValidTag(t))
  const own = valid.filter((t) => !isReferrerTag(t))
  const sel = selectTags(filter, own)
  const referrerTags = valid
    .filter(isReferrerTag)
    .map((tag) => ({ tag, reason: 'referrer tag: copied with its subject' }))
  const bad = selectTags(
    { include: filter?.include, exclude: filter?.exclude },
    tags.filter((t) => !isValidTag(t)),
  )
  return {
    selected: sel.selected,
    excluded: [...sel.excluded, ...referrerTags, ...bad.excluded],
    invalid: bad.selected,
  }
}
