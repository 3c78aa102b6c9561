import * as z from 'zod'
import { PATH_COMPONENT } from '../registry/names.js'
import { cronError, regexError, semverRangeError, timezoneError } from './checks.js'
import { positiveInt, RegistryEntrySchema } from './registry-schema.js'
import { checkedString, reportCheck } from './schema-checks.js'

export type { RegistryEntry } from './registry-schema.js'

// The rule file contract (DESIGN.md §4). People and scripts write this file by hand, so key names
// never change; new keys are optional. Every object is strict: a misspelt key is an error, not a
// silently ignored option.

export const SUPPORTED_VERSIONS = [1] as const
export const ARTIFACT_TYPES = ['image', 'helm', 'artifact'] as const
export const TRIGGER_TYPES = ['manual', 'schedule', 'auto'] as const

export const RULE_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]*$/
export const REGISTRY_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/
const REPOSITORY_PATH_PATTERN = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`)
const PLATFORM_PATTERN = /^[a-z0-9]+\/[a-z0-9_]+(?:\/[a-z0-9.]+)?$/

export type ArtifactType = (typeof ARTIFACT_TYPES)[number]

/** Normalised tag filter: the string shorthand `tags: "^v"` becomes `{ include: "^v" }`. */
export interface TagFilter {
  /** regex (unanchored, JavaScript syntax): keep tags it matches */
  include?: string
  /** regex: drop tags it matches */
  exclude?: string
  /** keep only the N highest tags (semver order; see match.ts) */
  latest?: number
  /** semver range, loose (a `v` prefix is fine) */
  semver?: string
}

export type TriggerSpec =
  | { type: 'manual' }
  | { type: 'auto' }
  /** timezone undefined: the process's local time zone (TZ) */
  | { type: 'schedule'; cron: string; timezone?: string }

// Custom issues carry `params.detail`: the formatter prints `field: message (rule "x"): detail`.
const regexString = checkedString(regexError, 'regular expression')

const namespaceString = z.string().superRefine((value, ctx) => {
  if (value !== '' && !REPOSITORY_PATH_PATTERN.test(value)) {
    ctx.addIssue({
      code: 'custom',
      message: `invalid namespace ${JSON.stringify(value)}`,
      params: {
        detail:
          'use lowercase path components separated by "/", without leading or trailing "/" (e.g. team-a or org/team); "" is the registry root',
      },
    })
  }
})

const repositoryName = z.string().superRefine((value, ctx) => {
  if (!REPOSITORY_PATH_PATTERN.test(value)) {
    ctx.addIssue({
      code: 'custom',
      message: `invalid repository name ${JSON.stringify(value)}`,
      params: {
        detail: 'list exact paths below the namespace (e.g. app or sub/tool); use a string for a regex',
      },
    })
  }
})

const registryRef = z.string().min(1, { error: 'must name an entry of registries' })

const TagFilterObject = z.strictObject({
  include: regexString.optional().meta({ description: 'Regex (unanchored): keep tags it matches.' }),
  exclude: regexString.optional().meta({ description: 'Regex (unanchored): drop tags it matches.' }),
  latest: positiveInt('how many of the highest tags to keep')
    .optional()
    .meta({ description: 'Keep only the N highest tags by semver order (non-semver tags rank lowest).' }),
  semver: checkedString(semverRangeError, 'semver range')
    .optional()
    .meta({ description: 'Semver range, e.g. ">=1.2 <2"; tags that are not versions are dropped.' }),
})

const TagFilterSchema = z
  .union([regexString.meta({ description: 'Regex shorthand for { include: ... }.' }), TagFilterObject])
  .transform((value): TagFilter => (typeof value === 'string' ? { include: value } : value))

const SourceSchema = z.strictObject({
  registry: registryRef.meta({ description: 'Name of an entry of registries.' }),
  namespace: namespaceString
    .default('')
    .meta({ description: 'Namespace (may be multi-level, a/b); "" or omitted is the registry root.' }),
  repositories: z
    .union([
      regexString,
      z.array(repositoryName).min(1, { error: 'list at least one repository, or omit it for all' }),
    ])
    .optional()
    .meta({
      description:
        'Regex on the repository path below the namespace, or a list of exact names. Default: all.',
    }),
  tags: TagFilterSchema.optional().meta({
    description: 'Regex shorthand, or { include, exclude, latest, semver }. Default: all tags.',
  }),
  types: z
    .array(z.enum(ARTIFACT_TYPES))
    .min(1, { error: 'list at least one of image, helm, artifact, or omit it for all' })
    .default([...ARTIFACT_TYPES])
    .meta({ description: 'Which kinds of content to copy. Default: all.' }),
})

const TargetSchema = z.strictObject({
  registry: registryRef.meta({ description: 'Name of an entry of registries.' }),
  namespace: namespaceString.optional().meta({ description: 'Default: the source namespace.' }),
})

const TriggerSchema = z
  .strictObject({
    type: z
      .enum(TRIGGER_TYPES)
      .meta({ description: 'manual (CLI), schedule (cron) or auto (each new push).' }),
    cron: z.string().optional().meta({ description: 'Cron expression, only with type: schedule.' }),
    timezone: z
      .string()
      .optional()
      .meta({ description: 'IANA time zone for cron, only with type: schedule. Default: local time.' }),
  })
  .superRefine((value, ctx) => {
    if (value.type === 'schedule') {
      if (value.cron === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['cron'],
          message: 'required when type is schedule',
          params: { detail: 'e.g. cron: "0 1 * * *" for 01:00 daily' },
        })
      } else {
        reportCheck(ctx, cronError, value.cron, 'cron expression', ['cron'])
      }
      if (value.timezone !== undefined) {
        reportCheck(ctx, timezoneError, value.timezone, 'time zone', ['timezone'])
      }
      return
    }
    for (const key of ['cron', 'timezone'] as const) {
      if (value[key] !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `only allowed with type: schedule (this trigger is ${value.type})`,
        })
      }
    }
  })
  .transform((value): TriggerSpec => {
    if (value.type !== 'schedule') return { type: value.type }
    return value.timezone === undefined
      ? { type: 'schedule', cron: value.cron ?? '' }
      : { type: 'schedule', cron: value.cron ?? '', timezone: value.timezone }
  })

export const RuleSchema = z
  .strictObject({
    name: z
      .string()
      .regex(RULE_NAME_PATTERN, {
        error:
          'invalid rule name: use lowercase letters, digits, ".", "_" and "-", starting with a letter or digit',
      })
      .max(128, { error: 'rule name is longer than 128 characters' })
      .meta({ description: 'Unique rule name.' }),
    description: z.string().optional(),
    enabled: z.boolean().default(true).meta({ description: 'Disabled rules are skipped by triggers.' }),
    source: SourceSchema,
    target: TargetSchema,
    override: z
      .boolean()
      .default(false)
      .meta({ description: 'Overwrite a target tag that points at a different digest.' }),
    referrers: z
      .boolean()
      .default(true)
      .meta({ description: 'Also copy signatures, SBOMs and attestations (OCI referrers).' }),
    platforms: z
      .array(
        z
          .string()
          .regex(PLATFORM_PATTERN, { error: 'expected os/arch or os/arch/variant, e.g. linux/arm64/v8' }),
      )
      .min(1, { error: 'list at least one platform, or omit it for all' })
      .optional()
      .meta({ description: 'Copy only these platforms of multi-platform images. Default: all.' }),
    prune: z
      .boolean()
      .default(false)
      .meta({ description: 'Delete target tags that no longer exist in the source.' }),
    trigger: TriggerSchema.default({ type: 'manual' }),
  })
  .transform((rule) => ({
    ...rule,
    target: { registry: rule.target.registry, namespace: rule.target.namespace ?? rule.source.namespace },
  }))

const ServeSchema = z.strictObject({
  webhookToken: z
    .string()
    .min(1, { error: 'must not be empty' })
    .optional()
    .meta({ description: `Bearer token that webhook callers must send. Use \${ENV}.` }),
})

const supported = SUPPORTED_VERSIONS.join(', ')

export const RuleFileSchema = z
  .strictObject({
    version: z.literal(1, {
      error: (issue) =>
        issue.input === undefined
          ? `required; add "version: 1" at the top of the file`
          : `unsupported rule file version ${JSON.stringify(issue.input)}; this imgsync reads version ${supported}`,
    }),
    registries: z
      .record(z.string(), RegistryEntrySchema)
      .default({})
      .meta({ description: 'Named registries that rules refer to.' }),
    rules: z.array(RuleSchema).default([]).meta({ description: 'Sync rules.' }),
    serve: ServeSchema.optional(),
  })
  .superRefine((file, ctx) => {
    for (const name of Object.keys(file.registries)) {
      if (!REGISTRY_NAME_PATTERN.test(name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['registries', name],
          message: `invalid registry name ${JSON.stringify(name)}`,
          params: { detail: 'use letters, digits, ".", "_" and "-"', at: 'key' },
        })
      }
    }
    const known = Object.keys(file.registries)
    const seen = new Map<string, number>()
    file.rules.forEach((rule, i) => {
      const first = seen.get(rule.name)
      if (first === undefined) seen.set(rule.name, i)
      else {
        ctx.addIssue({
          code: 'custom',
          path: ['rules', i, 'name'],
          message: `duplicate rule name ${JSON.stringify(rule.name)}`,
          params: { detail: `rules[${first}] has the same name; rule names must be unique`, noRule: true },
        })
      }
      for (const side of ['source', 'target'] as const) {
        const ref = rule[side].registry
        if (!Object.hasOwn(file.registries, ref)) {
          ctx.addIssue({
            code: 'custom',
            path: ['rules', i, side, 'registry'],
            message: `unknown registry ${JSON.stringify(ref)}`,
            params: {
              detail: known.length
                ? `name one of ${known.join(', ')}, or add it under registries`
                : 'add it under registries (e.g. registries: { NAME: { host: HOST } })',
            },
          })
        }
      }
    })
  })

export type RuleFile = z.output<typeof RuleFileSchema>
export type RuleFileInput = z.input<typeof RuleFileSchema>
export type Rule = z.output<typeof RuleSchema>
/** A rule as written in the file (defaults not applied, `tags` may be the string shorthand). */
export type RuleInput = z.input<typeof RuleSchema>

/**
 * JSON Schema (draft-07, the input form) of the rule file, for editors: yaml-language-server reads it
 * from a `# yaml-language-server: $schema=...` comment. Cross-field checks (registry references,
 * unique names, cron) are not expressible there; `imgsync` itself still runs them.
 */
export function ruleFileJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(RuleFileSchema, { io: 'input', target: 'draft-7', unrepresentable: 'any' })
  const { $schema, ...rest } = schema
  return {
    $schema,
    title: 'imgsync rule file',
    description: 'Registries and sync rules for imgsync, version 1.',
    ...rest,
  }
}
