import { Errors, Flags } from '@oclif/core'
import { type Document, isMap, isSeq } from 'yaml'
import { ImgsyncError } from '../errors.js'
import { ensureRegistry, type RulePatch } from '../rules/save.js'
import { type RuleInput, type TagFilter, TRIGGER_TYPES } from '../rules/schema.js'

type TriggerFlag = (typeof TRIGGER_TYPES)[number] | ''

/**
 * Flags of `rule create` and `rule update`. The tag filter speaks the words of `sync repo`
 * (--include, --exclude, --latest); --tags and --exclude-tags, the names of older versions, still
 * work. In `rule update` an empty value ('') removes an optional field (back to its default).
 */
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
  include: Flags.string({
    summary: 'Copy only tags matching this regex, as sync repo --include (alias: --tags).',
    helpValue: 'RE',
    aliases: ['tags'],
  }),
  exclude: Flags.string({
    summary: 'Leave out tags matching this regex, as sync repo --exclude (alias: --exclude-tags).',
    helpValue: 'RE',
    aliases: ['exclude-tags'],
  }),
  latest: Flags.custom<number | ''>({
    summary: 'Keep only the N highest tags (semver order), as sync repo --latest.',
    helpValue: 'N',
    parse: async (input) => {
      if (input.trim() === '') return ''
      const n = Number(input)
      if (!Number.isInteger(n) || n < 1)
        throw new Errors.CLIError(`Expected a whole number of at least 1 but received: ${input}`)
      return n
    },
  })(),
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
  trigger: Flags.custom<TriggerFlag>({
    summary: 'When the rule runs: manual (default), schedule (with --cron) or auto (on push).',
    helpValue: 'manual|schedule|auto',
    parse: async (input) => {
      const value = input.trim()
      if (value === '' || (TRIGGER_TYPES as readonly string[]).includes(value)) return value as TriggerFlag
      throw new Errors.CLIError(`Expected one of ${TRIGGER_TYPES.join(', ')} but received: ${input}`)
    },
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
      ? number | ''
      : K extends 'trigger'
        ? TriggerFlag
        : string
}

function list(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
}

/** The tag filter written from flags: a plain regex stays the shorthand form; '' removes a key. */
function tagFilter(base: TagFilter, f: RuleFlagValues): string | TagFilter | undefined {
  const next: TagFilter = { ...base }
  if (f.include !== undefined) next.include = f.include || undefined
  if (f.exclude !== undefined) next.exclude = f.exclude || undefined
  if (f.latest !== undefined) next.latest = f.latest === '' ? undefined : f.latest
  if (f.semver !== undefined) next.semver = f.semver || undefined
  const keys = Object.keys(next).filter((k) => next[k as keyof TagFilter] !== undefined)
  if (keys.length === 0) return undefined
  if (keys.length === 1 && next.include !== undefined) return next.include
  return Object.fromEntries(keys.map((k) => [k, next[k as keyof TagFilter]])) as TagFilter
}

const usage = (text: string, fix: string) =>
  new ImgsyncError('INVALID_ARGUMENT', text, { suggestions: [fix] })

/**
 * The trigger the flags ask for, on top of `current`: undefined when they change nothing, null to
 * remove it (back to manual). --cron and --timezone belong to a schedule; '' removes the time zone.
 */
function triggerFrom(
  f: RuleFlagValues,
  current?: RuleInput['trigger'],
): RuleInput['trigger'] | null | undefined {
  if (f.trigger === undefined && f.cron === undefined && f.timezone === undefined) return undefined
  const was = current as { type?: string; cron?: string; timezone?: string } | undefined
  if (f.trigger === '') {
    if (f.cron || f.timezone) {
      throw usage(
        "--trigger '' removes the trigger (back to manual)",
        'leave out --cron and --timezone with it',
      )
    }
    return was ? null : undefined
  }
  const type = (f.trigger || (f.cron ? 'schedule' : (was?.type ?? 'manual'))) as Exclude<TriggerFlag, ''>
  if (type !== 'schedule') {
    const stray = f.cron ? '--cron' : f.timezone ? '--timezone' : undefined
    if (stray) {
      throw usage(
        `${stray} belongs to a schedule, and this rule's trigger is ${type}`,
        `add --trigger schedule (with --cron "0 1 * * *"), or leave out ${stray}`,
      )
    }
    return f.trigger === undefined && was === undefined ? undefined : { type }
  }
  if (f.cron === '') {
    throw usage(
      "--cron '' would leave the schedule without a time",
      'give another expression, or --trigger manual to stop the schedule',
    )
  }
  const cron = f.cron ?? was?.cron
  if (cron === undefined) {
    throw usage('--trigger schedule needs --cron EXPR', 'e.g. --cron "0 1 * * *" for 01:00 every day')
  }
  const timezone = f.timezone === '' ? undefined : (f.timezone ?? was?.timezone)
  return { type: 'schedule', cron, ...(timezone !== undefined && { timezone }) }
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
  if (f.repos) source.repositories = f.repos
  if (f['repo-list']) source.repositories = list(f['repo-list'])
  const tags = tagFilter({}, f)
  if (tags !== undefined) source.tags = tags
  if (f.types) source.types = list(f.types) as RuleInput['source']['types']
  const target: RuleInput['target'] = { registry: ensureRegistry(doc, f['target-registry']) }
  if (f['target-namespace'] !== undefined) target.namespace = f['target-namespace']
  const rule: RuleInput = { name, source, target }
  if (f.description) rule.description = f.description
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

/** A patch from `rule update` flags: only what was given changes; '' removes an optional field. */
export function patchFromFlags(doc: Document, current: RuleInput, f: RuleFlagValues): RulePatch {
  const patch: RulePatch = {}
  const source: NonNullable<RulePatch['source']> = {}
  if (f['source-registry'] !== undefined) source.registry = ensureRegistry(doc, f['source-registry'])
  if (f['source-namespace'] !== undefined) source.namespace = f['source-namespace']
  if (f.repos !== undefined) source.repositories = f.repos === '' ? null : f.repos
  if (f['repo-list'] !== undefined) source.repositories = f['repo-list'] === '' ? null : list(f['repo-list'])
  if (
    f.include !== undefined ||
    f.exclude !== undefined ||
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
  if (trigger !== undefined) patch.trigger = trigger
  return patch
}
