import { Args, Flags } from '@oclif/core'
import { configFlag } from '../../cli/flags.js'
import { RuleEditCommand } from '../../cli/rule-edit.js'
import { checkRuleFlags } from '../../cli/rule-flag-checks.js'
import { ruleFlags, ruleFromFlags } from '../../cli/rule-flags.js'
import { addRule } from '../../rules/save.js'

export default class RuleCreate extends RuleEditCommand {
  static summary = 'Add a sync rule to the rule file.'

  static description =
    `Writes a new rule into the rule file (created when missing), atomically and under a lock, keeping the comments and layout of everything else.
Registries are named entries of the file; a bare host[:port] given to --source-registry / --target-registry is added as an entry. Credentials belong in the file as \${ENV} references, or come from the docker config.
Tags are chosen as sync repo chooses them: --include, --exclude, --latest (and --semver); --tags and --exclude-tags are the older names of --include and --exclude.
A value the rule cannot take (a bad regex, cron expression, time zone, name, or --trigger schedule without --cron) is INVALID_ARGUMENT naming the flag; the file is not touched.`

  static examples = [
    {
      description: 'Release tags of team-a, from Hong Kong to Beijing',
      command: `<%= config.bin %> rule create app-to-bj --source-registry hk --source-namespace team-a --include '^v\\d+\\.\\d+\\.\\d+$' --exclude -rc --target-registry bj`,
    },
    {
      description: 'Helm charts only, nightly at 01:00 Shanghai time, into another namespace',
      command: `<%= config.bin %> rule create charts-nightly --source-registry 127.0.0.1:5000 --source-namespace charts --types helm --target-registry 127.0.0.1:5001 --target-namespace mirror/charts --trigger schedule --cron "0 1 * * *" --timezone Asia/Shanghai`,
    },
    {
      description: 'The five newest 1.x tags of two repositories',
      command: `<%= config.bin %> rule create latest-1x --source-registry hk --source-namespace team-a --repo-list app,sub/tool --semver ">=1 <2" --latest 5 --target-registry bj`,
    },
  ]

  static args = {
    name: Args.string({ required: true, description: 'rule name: lowercase letters, digits, . _ -' }),
  }

  static flags = {
    ...configFlag,
    ...ruleFlags,
    'source-registry': { ...ruleFlags['source-registry'], required: true },
    'source-namespace': { ...ruleFlags['source-namespace'], required: true },
    'target-registry': { ...ruleFlags['target-registry'], required: true },
    disabled: Flags.boolean({ summary: 'Create the rule disabled.' }),
  }

  async run(): Promise<{ file: string; rule: string; created: boolean }> {
    const { args, flags } = await this.parse(RuleCreate)
    const { file } = await this.editRules(flags.config, (doc) => {
      const rule = ruleFromFlags(doc, args.name, flags)
      checkRuleFlags(rule, { ...flags, NAME: args.name })
      addRule(doc, rule)
    })
    this.logToStderr(`created rule ${args.name} in ${file}`)
    return { file, rule: args.name, created: true }
  }
}
