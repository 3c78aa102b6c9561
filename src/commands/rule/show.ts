import { Args } from '@oclif/core'
import { stringify } from 'yaml'
import { BaseCommand } from '../../base-command.js'
import { configFlag } from '../../command-support.js'
import { ImgsyncError } from '../../errors.js'
import { describeRegistry, describeRule, type RegistryView, type RuleView } from '../../rules/describe.js'
import { loadRuleFile, resolveConfigPath } from '../../rules/load.js'

export default class RuleShow extends BaseCommand {
  static summary = 'Show one rule with defaults filled in, and the registries it uses (credentials hidden).'

  static examples = ['<%= config.bin %> rule show app-to-bj', '<%= config.bin %> rule show app-to-bj --json']

  static args = { name: Args.string({ required: true, description: 'rule name' }) }

  static flags = { ...configFlag }

  async run(): Promise<{ rule: RuleView; registries: RegistryView[] }> {
    const { args, flags } = await this.parse(RuleShow)
    const file = resolveConfigPath(flags.config)
    const { config } = await loadRuleFile(file, process.env, { allowUnsetEnv: true })
    const rule = config.rules.find((r) => r.name === args.name)
    if (!rule) throw new ImgsyncError('RULE_NOT_FOUND', `no rule named "${args.name}" in ${file}`)
    const used = [...new Set([rule.source.registry, rule.target.registry])]
    const registries = used.map((name) => describeRegistry(name, config.registries[name]!))
    const view = describeRule(config, rule)
    this.log(stringify({ rule: view, registries }).trimEnd())
    return { rule: view, registries }
  }
}
