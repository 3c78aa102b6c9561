import { Args } from '@oclif/core'
import { configFlag } from '../../cli/flags.js'
import { RuleEditCommand } from '../../cli/rule-edit.js'
import { checkRuleFlags, patched } from '../../cli/rule-flag-checks.js'
import { patchFromFlags, ruleFlags, ruleInDocument } from '../../cli/rule-flags.js'
import { ImgsyncError } from '../../errors.js'
import { updateRule } from '../../rules/save.js'

export default class RuleUpdate extends RuleEditCommand {
  static summary = 'Change some fields of a rule; everything not given stays as it is.'

  static description =
    `Takes the same flags as rule create. An empty value ('') removes an optional field, back to its default: --include, --exclude, --latest, --semver, --repos, --repo-list, --types, --target-namespace, --description, --timezone, and --trigger (back to manual).
A value the rule cannot take is INVALID_ARGUMENT naming the flag, and the file is not touched. Otherwise the file is rewritten atomically under a lock; comments and the layout of everything else are kept.`

  static examples = [
    {
      description: 'Exclude release candidates',
      command: `<%= config.bin %> rule update app-to-bj --exclude -rc`,
    },
    {
      description: 'Run it every night instead of by hand',
      command: `<%= config.bin %> rule update app-to-bj --trigger schedule --cron "0 1 * * *"`,
    },
    {
      description: 'Copy every tag again, not only the newest five, and use the local time zone',
      command: `<%= config.bin %> rule update app-to-bj --latest '' --timezone ''`,
    },
    {
      description: 'Allow replacing changed tags',
      command: '<%= config.bin %> rule update app-to-bj --override',
    },
  ]

  static args = { name: Args.string({ required: true, description: 'rule name' }) }

  static flags = { ...configFlag, ...ruleFlags }

  async run(): Promise<{ file: string; rule: string; changed: boolean }> {
    const { args, flags } = await this.parse(RuleUpdate)
    const file = this.settings.configPath(flags.config)
    const result = await this.editRules(flags.config, (doc) => {
      const current = ruleInDocument(doc, args.name)
      if (!current) throw new ImgsyncError('RULE_NOT_FOUND', `no rule named "${args.name}" in ${file}`)
      const patch = patchFromFlags(doc, current, flags)
      checkRuleFlags(patched(current, patch), flags)
      updateRule(doc, args.name, patch)
    })
    this.logToStderr(
      result.changed ? `updated rule ${args.name}` : `rule ${args.name} already had those values`,
    )
    return { file, rule: args.name, changed: result.changed }
  }
}
