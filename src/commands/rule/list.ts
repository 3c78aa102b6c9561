import { BaseCommand } from '../../cli/base-command.js'
import { configFlag } from '../../cli/flags.js'
import {
  describeRegistry,
  describeRule,
  type RegistryView,
  type RuleView,
  triggerText,
} from '../../rules/describe.js'
import { loadRuleFile } from '../../rules/load.js'
import { renderTable } from '../../ui/table.js'

export default class RuleList extends BaseCommand {
  static summary = 'List the rules of the rule file (credentials are never shown).'

  static examples = ['<%= config.bin %> rule list', '<%= config.bin %> rule list --config prod.yaml --json']

  static flags = { ...configFlag }

  async run(): Promise<{ file: string; rules: RuleView[]; registries: RegistryView[] }> {
    const { flags } = await this.parse(RuleList)
    const file = this.settings.configPath(flags.config)
    const { config } = await loadRuleFile(file, this.settings.env, { allowUnsetEnv: true })
    const rules = config.rules.map((r) => describeRule(config, r))
    const registries = Object.entries(config.registries).map(([name, e]) => describeRegistry(name, e))
    if (rules.length === 0) {
      this.log(`no rules in ${file}`)
    } else {
      this.log(
        renderTable(
          ['NAME', 'ENABLED', 'SOURCE', 'TARGET', 'TRIGGER', 'DESCRIPTION'],
          rules.map((r) => [
            r.name,
            r.enabled ? 'yes' : 'no',
            `${r.source.registry}/${r.source.namespace}`,
            `${r.target.registry}/${r.target.namespace}`,
            triggerText(r.trigger),
            r.description ?? '',
          ]),
        ),
      )
    }
    return { file, rules, registries }
  }
}
