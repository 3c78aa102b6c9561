import { Args } from '@oclif/core'
import { configFlag } from '../../cli/flags.js'
import { RuleEditCommand } from '../../cli/rule-edit.js'
import { deleteRule } from '../../rules/save.js'

export default class RuleDelete extends RuleEditCommand {
  static summary = 'Remove a rule from the rule file (its records stay).'

  static examples = ['<%= config.bin %> rule delete app-to-bj']

  static args = { name: Args.string({ required: true, description: 'rule name' }) }

  static flags = { ...configFlag }

  async run(): Promise<{ file: string; rule: string; deleted: boolean }> {
    const { args, flags } = await this.parse(RuleDelete)
    const { file } = await this.editRules(flags.config, (doc) => deleteRule(doc, args.name))
    this.logToStderr(`deleted rule ${args.name}`)
    return { file, rule: args.name, deleted: true }
  }
}
