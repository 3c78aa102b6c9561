import { RuleSwitchCommand, switchArgs, switchFlags } from '../../cli/rule-edit.js'

export default class RuleDisable extends RuleSwitchCommand {
  static summary = 'Disable a rule: --all, schedules and push events skip it.'

  static examples = ['<%= config.bin %> rule disable app-to-bj']

  static args = switchArgs

  static flags = switchFlags

  async run() {
    return this.switchRule(false)
  }
}
