import { Args } from '@oclif/core'
import { BaseCommand } from '../../cli/base-command.js'
import { configFlag } from '../../cli/flags.js'
import { editRuleFile, setRuleEnabled } from '../../rules/save.js'

export default class RuleEnable extends BaseCommand {
  static summary = 'Enable a rule: triggers and serve run it again.'

  static examples = ['<%= config.bin %> rule enable app-to-bj']

  static args = { name: Args.string({ required: true, description: 'rule name' }) }

  static flags = { ...configFlag }

  async run(): Promise<{ file: string; rule: string; enabled: boolean; changed: boolean }> {
    const { args, flags } = await this.parse(RuleEnable)
    const file = this.settings.configPath(flags.config)
    const result = await editRuleFile(file, (doc) => setRuleEnabled(doc, args.name, true), {
      env: this.settings.env,
    })
    this.logToStderr(`rule ${args.name} is enabled`)
    return { file, rule: args.name, enabled: true, changed: result.changed }
  }
}
