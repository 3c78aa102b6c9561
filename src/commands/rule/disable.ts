import { Args } from '@oclif/core'
import { BaseCommand } from '../../cli/base-command.js'
import { configFlag } from '../../cli/flags.js'
import { editRuleFile, setRuleEnabled } from '../../rules/save.js'

export default class RuleDisable extends BaseCommand {
  static summary = 'Disable a rule: --all, schedules and push events skip it.'

  static examples = ['<%= config.bin %> rule disable app-to-bj']

  static args = { name: Args.string({ required: true, description: 'rule name' }) }

  static flags = { ...configFlag }

  async run(): Promise<{ file: string; rule: string; enabled: boolean; changed: boolean }> {
    const { args, flags } = await this.parse(RuleDisable)
    const file = this.settings.configPath(flags.config)
    const result = await editRuleFile(file, (doc) => setRuleEnabled(doc, args.name, false), {
      env: this.settings.env,
    })
    this.logToStderr(`rule ${args.name} is disabled`)
    return { file, rule: args.name, enabled: false, changed: result.changed }
  }
}
