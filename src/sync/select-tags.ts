import { isReferrerTag } from '../copy/referrers.js'
import { isValidTag } from '../registry/names.js'
import { selectTags, type TagExclusionReason } from '../rules/match.js'
import type { TagFilter } from '../rules/schema.js'

/** A tag left out: `reason` for machines (include, exclude, semver, latest), `detail` for people. */
export interface TagExclusion {
  tag: string
  reason: string
  detail: string
}

export interface SyncTagSelection {
  selected: string[]
  excluded: TagExclusion[]
  /** names the registry listed that are not valid tags, yet pass the include/exclude filters */
  invalid: string[]
}

/**
 * How a filter is named to the user: the flags of `sync repo` (--include) or the rule file's fields
 * (tags.include).
 */
export type FilterWords = 'flags' | 'rule'

const REFERRER = 'referrer tag: copied with its subject'
const quote = (value: string | number) => `'${value}'`

/** Why a filter left a tag out, as a phrase: "excluded by --exclude '-rc'", "older than the newest 3". */
export function exclusionDetail(reason: TagExclusionReason, filter: TagFilter, words: FilterWords): string {
  const name = (key: keyof TagFilter) => (words === 'flags' ? `--${key}` : `tags.${key}`)
  switch (reason) {
    case 'include':
      return `does not match ${name('include')} ${quote(filter.include ?? '')}`
    case 'exclude':
      return `excluded by ${name('exclude')} ${quote(filter.exclude ?? '')}`
    case 'semver':
      return `not a version in ${name('semver')} ${quote(filter.semver ?? '')}`
    case 'latest':
      return `older than the newest ${filter.latest} (${name('latest')} ${filter.latest})`
  }
}

/**
 * The tags a task copies as items. Referrer tags (`sha256-<hex>` fallback indexes, cosign
 * `.sig/.att/.sbom`) travel with their subject instead: copied as tags they would overwrite the
 * target's merged fallback index. A listed name that is not a valid tag is never selected; when the
 * filters would have taken it, it is reported as `invalid` (a failed item), else left out quietly.
 */
export function selectSyncTags(
  filter: TagFilter | undefined,
  tags: string[],
  words: FilterWords = 'rule',
): SyncTagSelection {
  const valid = tags.filter((t) => isValidTag(t))
  const own = valid.filter((t) => !isReferrerTag(t))
  const sel = selectTags(filter, own)
  const referrerTags = valid.filter(isReferrerTag).map((tag) => ({ tag, reason: REFERRER, detail: REFERRER }))
  const bad = selectTags(
    { include: filter?.include, exclude: filter?.exclude },
    tags.filter((t) => !isValidTag(t)),
  )
  const phrased = (e: { tag: string; reason: TagExclusionReason }) => ({
    ...e,
    detail: exclusionDetail(e.reason, filter ?? {}, words),
  })
  return {
    selected: sel.selected,
    excluded: [...sel.excluded.map(phrased), ...referrerTags, ...bad.excluded.map(phrased)],
    invalid: bad.selected,
  }
}
