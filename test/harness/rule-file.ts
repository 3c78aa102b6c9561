// Rule files as the tests write them: version 1, the registries by name, then the rules. JSON is
// YAML, so an entry or a rule given as an object is written as one JSON line.
import { writeFile } from 'node:fs/promises'

/** A registries entry: its host (`{ host: "HOST" }`), or the whole entry as an object. */
export type RegistryEntry = string | Record<string, unknown>

/** A rule: an object (one line of JSON), or a line of YAML written under `rules:` as it is. */
export type RuleEntry = Record<string, unknown> | string

/**
 * The text of a version-1 rule file. Registries come first, one line each, in the order given
 * (so the first is on line 3); no rules is `rules: []`.
 */
export function ruleFileText(registries: Record<string, RegistryEntry>, rules: RuleEntry[] = []): string {
  const entries = Object.entries(registries).map(
    ([name, entry]) =>
      `  ${name}: ${typeof entry === 'string' ? `{ host: "${entry}" }` : JSON.stringify(entry)}`,
  )
  const ruleLines = rules.map((rule) => (typeof rule === 'string' ? rule : `  - ${JSON.stringify(rule)}`))
  return [
    'version: 1',
    'registries:',
    ...entries,
    ...(ruleLines.length > 0 ? ['rules:', ...ruleLines] : ['rules: []']),
    '',
  ].join('\n')
}

/** Writes `ruleFileText(registries, rules)` to `file` and returns the path. */
export async function writeRuleFile(
  file: string,
  registries: Record<string, RegistryEntry>,
  rules: RuleEntry[] = [],
): Promise<string> {
  await writeFile(file, ruleFileText(registries, rules))
  return file
}

/** The commands that only read the rule file `file`: rule list, and rule show of `rule`, each also --json. */
export function ruleReadCommands(file: string, rule: string): string[][] {
  return [
    ['rule', 'list', '-c', file],
    ['rule', 'list', '-c', file, '--json'],
    ['rule', 'show', rule, '-c', file],
    ['rule', 'show', rule, '-c', file, '--json'],
  ]
}

/** `rule create NAME -c FILE` from `source` (a host or a registries entry) and its `namespace`, then `flags`. */
export function ruleCreateArgs(
  name: string,
  file: string,
  source: string,
  namespace: string,
  ...flags: string[]
): string[] {
  return [
    'rule',
    'create',
    name,
    '-c',
    file,
    '--source-registry',
    source,
    '--source-namespace',
    namespace,
    ...flags,
  ]
}
