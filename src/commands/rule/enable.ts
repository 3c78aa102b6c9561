import { RuleSwitchCommand, switchArgs, switchFlags } from '../../cli/rule-edit.js'

export default class RuleEnable extends RuleSwitchCommand {
  static summary = 'Enable a rule: triggers and serve run it again.'

  static examples = ['<%= config.bin %> rule enable app-to-bj']

  static args = switchArgs

  static flags = switchFlags

  async run() {
    return this.switchRule(true)
  }
}
