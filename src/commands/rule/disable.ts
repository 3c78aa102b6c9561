import { RuleSwitchCommand } from '../../cli/rule-edit.js'

export default class RuleDisable extends RuleSwitchCommand {
  static summary = 'Disable a rule: --all, schedules and push events skip it.'

  static examples = ['<%= config.bin %> rule disable app-to-bj']

  async run() {
    return this.switchRule(false)
  }
}
