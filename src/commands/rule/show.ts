import { Args } from '@oclif/core'
import { stringify } from 'yaml'
import { BaseCommand } from '../../cli/base-command.js'
import { configFlag } from '../../cli/flags.js'
import { ImgsyncError } from '../../errors.js'
import { describeRegistry, describeRule, type RegistryView, type RuleView } from '../../rules/describe.js'
import { loadRuleFile } from '../../rules/load.js'

export default class RuleShow extends BaseCommand {
  static summary = 'Show one rule with defaults filled in, and the registries it uses (credentials hidden).'

  static examples = ['<%= config.bin %> rule show app-to-bj', '<%= config.bin %> rule show app-to-bj --json']

  static args = { name: Args.string({ required: true, description: 'rule name' }) }

  static flags = { ...configFlag }

  async run(): Promise<{ rule: RuleView; registries: RegistryView[] }> {
    const { args, flags } = await this.parse(RuleShow)
    const file = this.settings.configPath(flags.config)
    const { config } = await loadRuleFile(file, this.settings.env, { allowUnsetEnv: true })
    const rule = config.rules.find((r) => r.name === args.name)
    if (!rule) throw new ImgsyncError('RULE_NOT_FOUND', `no rule named "${args.name}" in ${file}`)
    const used = [...new Set([rule.source.registry, rule.target.registry])]
    const registries = used.map((name) => describeRegistry(name, config.registries[name]!))
    const view = describeRule(config, rule)
    this.log(stringify({ rule: view, registries }).trimEnd())
    return { rule: view, registries }
  }
}
