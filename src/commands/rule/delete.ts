import { Args } from '@oclif/core'
import { BaseCommand } from '../../cli/base-command.js'
import { configFlag } from '../../cli/flags.js'
import { deleteRule, editRuleFile } from '../../rules/save.js'

export default class RuleDelete extends BaseCommand {
  static summary = 'Remove a rule from the rule file (its records stay).'

  static examples = ['<%= config.bin %> rule delete app-to-bj']

  static args = { name: Args.string({ required: true, description: 'rule name' }) }

  static flags = { ...configFlag }

  async run(): Promise<{ file: string; rule: string; deleted: boolean }> {
    const { args, flags } = await this.parse(RuleDelete)
    const file = this.settings.configPath(flags.config)
    await editRuleFile(file, (doc) => deleteRule(doc, args.name), { env: this.settings.env })
    this.logToStderr(`deleted rule ${args.name}`)
    return { file, rule: args.name, deleted: true }
  }
}
