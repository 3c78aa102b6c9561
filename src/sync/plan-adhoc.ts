import { ImgsyncError } from '../errors.js'
import type { RegistryApi } from '../registry/api.js'
import { formatLocation, type Location, parseLocation } from '../registry/location.js'
import { isValidTag } from '../registry/names.js'
import type { Reference } from '../registry/reference.js'
import type { TagFilter } from '../rules/schema.js'
import {
  display,
  type Exclusion,
  exclusion,
  type ItemPlan,
  invalidNameFailure,
  type Plan,
  repoDisplay,
} from './plan.js'
import type { PruneScope } from './prune.js'
import type { SyncTagSelection } from './select-tags.js'

/** Compiles a user regex, naming the flag when it is invalid. */
export function compileRegex(source: string | undefined, what: string): RegExp | undefined {
  if (source === undefined || source === '') return undefined
  try {
    return new RegExp(source)
  } catch (err) {
    throw new ImgsyncError(
      'INVALID_ARGUMENT',
      `${what}: invalid regular expression "${source}": ${(err as Error).message}`,
    )
  }
}

export { display }

/** An argument of `sync tag` / `sync repo`: where it is (for the backend) and what it names. */
export type SyncLocation = Reference & { location: Location }

/**
 * A registry reference, or an OCI layout (`oci:PATH[:TAG|@DIGEST]`) as a reference whose registry
 * is `oci:PATH` (its name in records) and whose repository is empty (one layout, one repository).
 */
export function parseSyncLocation(text: string): SyncLocation {
  const location = parseLocation(text)
  if (location.kind === 'registry') return { ...location.ref, location }
  const { tag, digest } = location
  return {
    registry: formatLocation({ kind: 'oci', path: location.path }),
    repository: '',
    tag,
    digest,
    location,
  }
}

/** `sync repo` arguments name a repository or a whole layout, never a tag. */
export function parseRepoLocation(text: string): SyncLocation {
  const ref = parseSyncLocation(text)
  if (ref.tag !== undefined || ref.digest !== undefined) {
    throw new ImgsyncError(
      'INVALID_REFERENCE',
      `"${text}" names a tag or digest; sync repo takes a repository or oci:DIR`,
    )
  }
  return ref
}

export interface TagPlanInput {
  source: string
  target: string
  tags?: string[]
}

/** Parses `sync tag` arguments into source/target references and the tag list. */
export function parseTagArgs(input: TagPlanInput): { src: SyncLocation; dst: SyncLocation; refs: string[] } {
  const src = parseSyncLocation(input.source)
  const dst = parseSyncLocation(input.target)
  if (dst.digest) {
    throw new ImgsyncError(
      'INVALID_REFERENCE',
      `target "${input.target}" names a digest; give host/repo[:tag]`,
    )
  }
  let refs: string[]
  if (input.tags && input.tags.length > 0) {
    if (src.tag || src.digest) {
      throw new ImgsyncError(
        'INVALID_ARGUMENT',
        `--tags lists the tags; give the source as a repository, not "${input.source}"`,
      )
    }
    for (const t of input.tags) {
      if (!isValidTag(t)) throw new ImgsyncError('INVALID_REFERENCE', `--tags: "${t}" is not a valid tag`)
    }
    if (dst.tag)
      throw new ImgsyncError(
        'INVALID_ARGUMENT',
        `with --tags the target must be a repository, not "${input.target}"`,
      )
    refs = [...new Set(input.tags)]
  } else {
    refs = [src.digest ?? src.tag ?? 'latest']
  }
  return { src, dst, refs }
}

/** Items for `sync tag`: each source tag (or the digest) to the target repository. */
export function planTags(
  args: { src: Reference; dst: Reference; refs: string[] },
  srcApi: RegistryApi,
  dstApi: RegistryApi,
): Plan {
  const { src, dst, refs } = args
  const items: ItemPlan[] = refs.map((ref) => {
    // a source given by digest keeps its tag name on the target when the user wrote one
    const dstTag = dst.tag ?? (ref.includes(':') ? src.tag : ref)
    return {
      src: srcApi,
      srcRepo: src.repository,
      srcRef: ref,
      dst: dstApi,
      dstRepo: dst.repository,
      dstTag,
      source: display(src.registry, src.repository, ref),
      target: display(dst.registry, dst.repository, dstTag ?? ref),
      tag: src.tag ?? ref,
    }
  })
  return { items, excluded: [], repositories: 1 }
}

/** Items for `sync repo`: every source tag that passes the filters. */
export async function planRepo(
  src: Reference,
  dst: Reference,
  srcApi: RegistryApi,
  dstApi: RegistryApi,
  select: (tags: string[]) => SyncTagSelection,
  prune?: { filter?: TagFilter },
): Promise<Plan> {
  const tags = await srcApi.listTags(src.repository)
  const { selected, excluded, invalid } = select(tags)
  const items = selected.map((tag) => ({
    src: srcApi,
    srcRepo: src.repository,
    srcRef: tag,
    dst: dstApi,
    dstRepo: dst.repository,
    dstTag: tag,
    source: display(src.registry, src.repository, tag),
    target: display(dst.registry, dst.repository, tag),
    tag,
  }))
  const ex: Exclusion[] = excluded.map((e) => exclusion(src.registry, src.repository, e))
  const scopes: PruneScope[] | undefined = prune && [
    {
      dst: dstApi,
      dstRepo: dst.repository,
      target: `${dst.registry}/${dst.repository}`,
      sourceTags: tags,
      filter: prune.filter,
    },
  ]
  const at = {
    source: repoDisplay(src.registry, src.repository),
    target: repoDisplay(dst.registry, dst.repository),
    repository: src.repository,
  }
  return {
    items,
    excluded: ex,
    failures: invalid.map((tag) => invalidNameFailure('tag', tag, at)),
    repositories: 1,
    listed: [{ api: srcApi, repo: src.repository, tags }],
    ...(scopes && { prune: scopes }),
  }
}
