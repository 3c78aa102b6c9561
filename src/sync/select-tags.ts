import { isReferrerTag } from '../copy/referrers.js'
import { selectTags } from '../rules/match.js'
import type { TagFilter } from '../rules/schema.js'

/**
 * The tags a task copies as items. Referrer tags (`sha256-<hex>` fallback indexes, cosign
 * `.sig/.att/.sbom`) travel with their subject instead: copied as tags they would overwrite the
 * target's merged fallback index.
 */
export function selectSyncTags(
  filter: TagFilter | undefined,
  tags: string[],
): { selected: string[]; excluded: { tag: string; reason: string }[] } {
  const own = tags.filter((t) => !isReferrerTag(t))
  const sel = selectTags(filter, own)
  const referrerTags = tags
    .filter(isReferrerTag)
    .map((tag) => ({ tag, reason: 'referrer tag: copied with its subject' }))
  return { selected: sel.selected, excluded: [...sel.excluded, ...referrerTags] }
}
