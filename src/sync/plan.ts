// What a planner hands the task runner: the items to copy, what was left out and why, and what
// failed before any copy could start (a repository that cannot be listed, a name a registry sent
// that is not a valid one). Plain data, no I/O.

import type { ImageRoute } from '../copy/copy-image.js'
import { ImgsyncError } from '../errors.js'
import type { RegistryApi } from '../registry/api.js'
import { quoteName } from '../registry/names.js'
import { printable } from '../text.js'
import type { PruneScope } from './prune.js'

/** One image to copy, as the planner resolved it, with its names as records show them. */
export interface ItemPlan extends ImageRoute {
  /** display forms, as in records: host/repo:tag */
  source: string
  target: string
  tag: string
}

/** Something the planner left out, reported in dry runs and --json (never copied). */
export interface Exclusion {
  source: string
  tag: string
  /** short and stable, for scripts: include, exclude, semver, latest, repository, … */
  reason: string
  /** the same as a phrase for people: "excluded by --exclude '-rc'", "older than the newest 3" */
  detail?: string
}

/**
 * Work that failed while planning, recorded as a failed item so the task goes on: a repository
 * whose tags could not be listed (tag `*`), or a name from the registry that is not valid.
 */
export interface PlanFailure {
  source: string
  target: string
  repository: string
  tag: string
  error: ImgsyncError
}

/** A source repository's tags as the planner listed them (the copy engine reuses the list). */
export interface ListedTags {
  api: RegistryApi
  repo: string
  tags: string[]
}

/**
 * Items a planner hands over while it still lists (one repository's at a time): the copy step
 * starts them at once, so copying never waits for the last repository to be listed.
 */
export interface PlanBatch {
  items: ItemPlan[]
  listed?: ListedTags[]
}

export type PlanFeed = (batch: PlanBatch) => void

export interface Plan {
  /** every item, those already fed included (the same objects) */
  items: ItemPlan[]
  excluded: Exclusion[]
  failures?: PlanFailure[]
  listed?: ListedTags[]
  /** target repositories to prune after copying (opt-in) */
  prune?: PruneScope[]
  repositories: number
}

/** How records name a repository: host/repo, or oci:PATH for a one-repository layout. */
export function repoDisplay(registry: string, repo: string): string {
  return repo === '' ? registry : `${registry}/${repo}`
}

/** How items name an image in records and output: host/repo:tag, host/repo@digest, oci:PATH:tag. */
export function display(registry: string, repo: string, tagOrDigest: string): string {
  return `${repoDisplay(registry, repo)}${tagOrDigest.includes(':') ? '@' : ':'}${tagOrDigest}`
}

/** An excluded tag as reported; a name the registry sent may not be printable as it is. */
export function exclusion(
  registry: string,
  repo: string,
  e: { tag: string; reason: string; detail?: string },
): Exclusion {
  const tag = printable(e.tag)
  return {
    source: display(registry, repo, tag),
    tag,
    reason: e.reason,
    ...(e.detail !== undefined && { detail: e.detail }),
  }
}

/**
 * A failed item for a name the source registry sent that breaks the distribution grammar: it is
 * never put into a URL, and it is shown only in printable form.
 */
export function invalidNameFailure(
  kind: 'tag' | 'repository',
  name: string,
  at: { source: string; target: string; repository: string },
): PlanFailure {
  const shown = printable(name)
  return {
    source: kind === 'tag' ? `${at.source}:${shown}` : `${at.source}/${shown}`,
    target: at.target,
    repository: kind === 'tag' ? at.repository : shown,
    tag: kind === 'tag' ? shown : '*',
    error: new ImgsyncError(
      'INVALID_REFERENCE',
      `${at.source}: the registry lists the ${kind} ${quoteName(name)}, which is not a valid ${kind} name`,
      {
        suggestions: [
          'imgsync copies only names of the distribution grammar; fix or remove it at the source',
        ],
      },
    ),
  }
}
