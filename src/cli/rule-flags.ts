import { Flags } from '@oclif/core'
import { type Document, isMap, isSeq } from 'yaml'
import { ImgsyncError } from '../errors.js'
import { ensureRegistry, type RulePatch } from '../rules/save.js'
import type { RuleInput, TagFilter } from '../rules/schema.js'

/** Flags of `rule create` and `rule update`; the names follow the rule file's keys. */
export const ruleFlags = {
  'source-registry': Flags.string({
    summary: 'Source: a name under registries, or a host[:port] (added to registries).',
    helpValue: 'NAME|HOST',
  }),
  'source-namespace': Flags.string({
    summary: 'Source namespace (may be multi-level: org/team); "" is the registry root.',
    helpValue: 'NS',
  }),
  repos: Flags.string({
    summary: 'Regex on repository paths below the namespace (default: all). Needs the registry catalog.',
    helpValue: 'RE',
  }),
  'repo-list': Flags.string({
    summary: 'Comma-separated repository paths below the namespace (no catalog needed).',
    helpValue: 'a,b/c',
    exclusive: ['repos'],
  }),
  tags: Flags.string({ summary: 'Copy only tags matching this regex.', helpValue: 'RE' }),
  'exclude-tags': Flags.string({ summary: 'Leave out tags matching this regex.', helpValue: 'RE' }),
  latest: Flags.integer({ summary: 'Keep only the N highest tags (semver order).', min: 1, helpValue: 'N' }),
  semver: Flags.string({
    summary: 'Keep only tags in this semver range, e.g. ">=1.2 <2".',
    helpValue: 'RANGE',
  }),
  types: Flags.string({
    summary: 'Comma-separated kinds to copy: image, helm, artifact (default: all).',
    helpValue: 'LIST',
  }),
  'target-registry': Flags.string({
    summary: 'Target: a name under registries, or a host[:port] (added to registries).',
    helpValue: 'NAME|HOST',
  }),
  'target-namespace': Flags.string({
    summary: 'Target namespace (default: the source namespace).',
    helpValue: 'NS',
  }),
  override: Flags.boolean({
    summary: 'Replace target tags that point at a different digest.',
    allowNo: true,
  }),
  referrers: Flags.boolean({
    summary: 'Copy signatures, SBOMs and attestations too (default on).',
    allowNo: true,
  }),
  trigger: Flags.option({
    options: ['manual', 'schedule', 'auto'] as const,
    summary: 'When the rule runs.',
  })(),
  cron: Flags.string({
    summary: 'Cron expression for --trigger schedule, e.g. "0 1 * * *".',
    helpValue: 'EXPR',
  }),
  timezone: Flags.string({
    summary: 'IANA time zone for the cron expression, e.g. Asia/Shanghai.',
    helpValue: 'TZ',
  }),
  description: Flags.string({ summary: 'What the rule is for.', helpValue: 'TEXT' }),
}

export type RuleFlagValues = {
  [K in keyof typeof ruleFlags]?: K extends 'override' | 'referrers'
    ? boolean
    : K extends 'latest'
      ? number
      : K extends 'trigger'
        ? 'manual' | 'schedule' | 'auto'
        : string
}

function list(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
}

/** The tag filter written from flags: a plain regex stays the shorthand form. */
function tagFilter(base: TagFilter, f: RuleFlagValues): string | TagFilter | undefined {
  const next: TagFilter = { ...base }
  if (f.tags !== undefined) next.include = f.tags || undefined
  if (f['exclude-tags'] !== undefined) next.exclude = f['exclude-tags'] || undefined
  if (f.latest !== undefined) next.latest = f.latest
  if (f.semver !== undefined) next.semver = f.semver || undefined
  const keys = Object.keys(next).filter((k) => next[k as keyof TagFilter] !== undefined)
  if (keys.length === 0) return undefined
  if (keys.length === 1 && next.include !== undefined) return next.include
  return Object.fromEntries(keys.map((k) => [k, next[k as keyof TagFilter]])) as TagFilter
}

function triggerFrom(f: RuleFlagValues, current?: RuleInput['trigger']): RuleInput['trigger'] | undefined {
  if (f.trigger === undefined && f.cron === undefined && f.timezone === undefined) return undefined
  const type = f.trigger ?? (f.cron !== undefined ? 'schedule' : (current?.type ?? 'manual'))
  if (type !== 'schedule') return { type }
  const cron = f.cron ?? (current as { cron?: string } | undefined)?.cron
  const timezone = f.timezone ?? (current as { timezone?: string } | undefined)?.timezone
  return { type, ...(cron !== undefined && { cron }), ...(timezone !== undefined && { timezone }) }
}

/** A new rule from `rule create` flags; registries given as hosts are added to the document. */
export function ruleFromFlags(
  doc: Document,
  name: string,
  f: RuleFlagValues & { disabled?: boolean },
): RuleInput {
  if (!f['source-registry'] || !f['target-registry']) {
    throw new ImgsyncError('INVALID_ARGUMENT', 'rule create needs --source-registry and --target-registry')
  }
  if (f['source-namespace'] === undefined) {
    throw new ImgsyncError(
      'INVALID_ARGUMENT',
      'rule create needs --source-namespace ("" for the registry root)',
    )
  }
  const source: RuleInput['source'] = {
    registry: ensureRegistry(doc, f['source-registry']),
    namespace: f['source-namespace'],
  }
  if (f.repos !== undefined) source.repositories = f.repos
  if (f['repo-list'] !== undefined) source.repositories = list(f['repo-list'])
  const tags = tagFilter({}, f)
  if (tags !== undefined) source.tags = tags
  if (f.types !== undefined) source.types = list(f.types) as RuleInput['source']['types']
  const target: RuleInput['target'] = { registry: ensureRegistry(doc, f['target-registry']) }
  if (f['target-namespace'] !== undefined) target.namespace = f['target-namespace']
  const rule: RuleInput = { name, source, target }
  if (f.description !== undefined) rule.description = f.description
  if (f.disabled) rule.enabled = false
  if (f.override !== undefined) rule.override = f.override
  if (f.referrers !== undefined) rule.referrers = f.referrers
  const trigger = triggerFrom(f)
  if (trigger) rule.trigger = trigger
  return rule
}

/** The rule as written in the document (before defaults), for merging partial updates. */
export function ruleInDocument(doc: Document, name: string): RuleInput | undefined {
  const rules = doc.get('rules')
  if (!isSeq(rules)) return undefined
  for (const item of rules.items) {
    if (isMap(item) && item.get('name') === name) return item.toJSON() as RuleInput
  }
  return undefined
}

/** A patch from `rule update` flags: only what was given changes. */
export function patchFromFlags(doc: Document, current: RuleInput, f: RuleFlagValues): RulePatch {
  const patch: RulePatch = {}
  const source: NonNullable<RulePatch['source']> = {}
  if (f['source-registry'] !== undefined) source.registry = ensureRegistry(doc, f['source-registry'])
  if (f['source-namespace'] !== undefined) source.namespace = f['source-namespace']
  if (f.repos !== undefined) source.repositories = f.repos === '' ? null : f.repos
  if (f['repo-list'] !== undefined) source.repositories = f['repo-list'] === '' ? null : list(f['repo-list'])
  if (
    f.tags !== undefined ||
    f['exclude-tags'] !== undefined ||
    f.latest !== undefined ||
    f.semver !== undefined
  ) {
    const base = current.source.tags
    const normal: TagFilter = typeof base === 'string' ? { include: base } : { ...(base ?? {}) }
    source.tags = tagFilter(normal, f) ?? null
  }
  if (f.types !== undefined)
    source.types = f.types === '' ? null : (list(f.types) as RuleInput['source']['types'])
  if (Object.keys(source).length > 0) patch.source = source
  const target: NonNullable<RulePatch['target']> = {}
  if (f['target-registry'] !== undefined) target.registry = ensureRegistry(doc, f['target-registry'])
  if (f['target-namespace'] !== undefined)
    target.namespace = f['target-namespace'] === '' ? null : f['target-namespace']
  if (Object.keys(target).length > 0) patch.target = target
  if (f.description !== undefined) patch.description = f.description === '' ? null : f.description
  if (f.override !== undefined) patch.override = f.override
  if (f.referrers !== undefined) patch.referrers = f.referrers
  const trigger = triggerFrom(f, current.trigger)
  if (trigger) patch.trigger = trigger
  return patch
}
