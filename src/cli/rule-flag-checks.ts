// A bad value given to `rule create` / `rule update` is the flag's fault, not the rule file's: the
// rule the flags would write is checked before the file is touched, and a problem in a field a given
// flag sets is INVALID_ARGUMENT naming that flag (the file is left as it was).
import { readFile } from 'node:fs/promises'
import { ImgsyncError } from '../errors.js'
import { parseRuleFile } from '../rules/load.js'
import { schemaProblems } from '../rules/problems.js'
import type { RulePatch } from '../rules/save.js'
import { type RuleInput, RuleSchema } from '../rules/schema.js'
import type { RuleFlagValues } from './rule-flags.js'

/** Which flags set a field of the rule, most specific first; NAME is `rule create`'s argument. */
const SETTERS: [field: string, flags: string[]][] = [
  ['name', ['NAME']],
  ['description', ['description']],
  ['source.namespace', ['source-namespace']],
  ['source.repositories', ['repos', 'repo-list']],
  ['source.tags.include', ['include']],
  ['source.tags.exclude', ['exclude']],
  ['source.tags.semver', ['semver']],
  ['source.tags.latest', ['latest']],
  ['source.tags', ['include', 'exclude', 'semver', 'latest']],
  ['source.types', ['types']],
  ['target.namespace', ['target-namespace']],
  ['trigger.cron', ['cron', 'trigger']],
  ['trigger.timezone', ['timezone', 'trigger']],
  ['trigger', ['trigger', 'cron', 'timezone']],
]

/** The given flag that set the field at `path`, if any. */
function setter(path: (string | number)[], given: Record<string, unknown>): string | undefined {
  const field = path.join('.')
  const entry = SETTERS.find(([f]) => field === f || field.startsWith(`${f}.`))
  return entry?.[1].find((flag) => given[flag] !== undefined)
}

/**
 * Throws INVALID_ARGUMENT when `rule` (what the flags would write) breaks the rule schema in a field
 * that one of the `given` flags set. Problems elsewhere are the file's own, for the edit to report.
 */
export function checkRuleFlags(rule: RuleInput, given: RuleFlagValues & { NAME?: string }): void {
  const result = RuleSchema.safeParse(rule)
  if (result.success) return
  const problems = schemaProblems(result.error.issues, rule, RuleSchema)
  const blamed = problems.flatMap((p) => {
    const flag = setter(p.path, given)
    if (!flag) return []
    const label = flag === 'NAME' ? `NAME ${JSON.stringify(given.NAME)}` : `--${flag}`
    return [`${label}: ${p.message}${p.detail ? `: ${p.detail}` : ''}`]
  })
  if (blamed.length === 0) return
  throw new ImgsyncError('INVALID_ARGUMENT', blamed[0]!, {
    suggestions: [...blamed.slice(1), 'the rule file is unchanged'],
  })
}

/** The rule `current` would be after `patch` (source and target merge key by key; null removes). */
export function patched(current: RuleInput, patch: RulePatch): RuleInput {
  const merge = <T extends object>(base: T, change: object | null | undefined): T => {
    if (change === undefined || change === null) return base
    const out = { ...base } as Record<string, unknown>
    for (const [k, v] of Object.entries(change)) {
      if (v === null) delete out[k]
      else if (v !== undefined) out[k] = v
    }
    return out as T
  }
  const { source, target, ...rest } = patch
  const next = merge(current, rest)
  return { ...next, source: merge(current.source, source), target: merge(current.target, target) }
}

const UNSAVED = 'not saved, the edit would leave the rule file invalid: '

/**
 * An edit refused because the result would be invalid while the file as it is loads fine: the flags
 * made it so. Then it is INVALID_ARGUMENT (the file is unchanged), else the error as it was.
 */
export async function blameFlags(err: unknown, file: string): Promise<unknown> {
  if (!(err instanceof ImgsyncError) || err.code !== 'CONFIG_INVALID' || !err.message.startsWith(UNSAVED))
    return err
  const text = await readFile(file, 'utf8').catch(() => undefined)
  if (text !== undefined) {
    try {
      parseRuleFile(text, file, {}, { allowUnsetEnv: true })
    } catch {
      return err
    }
  }
  const hints = err.suggestions.filter((s) => !s.startsWith('fix '))
  return new ImgsyncError(
    'INVALID_ARGUMENT',
    `these flags would make the rule invalid: ${err.message.slice(UNSAVED.length)}`,
    { suggestions: [...hints, 'the rule file is unchanged'] },
  )
}
