// What the commands that edit the rule file share: the file's path and an edit under its lock.
import { Args } from '@oclif/core'
import type { Document } from 'yaml'
import { type EditResult, editRuleFile, setRuleEnabled } from '../rules/save.js'
import { BaseCommand } from './base-command.js'
import { configFlag } from './flags.js'
import { blameFlags } from './rule-flag-checks.js'

export abstract class RuleEditCommand extends BaseCommand {
  /** Edits the rule file (`--config`, IMGSYNC_CONFIG or ./imgsync.yaml) atomically, under its lock. */
  protected async editRules<T>(
    configFlag: string | undefined,
    fn: (doc: Document) => T | Promise<T>,
  ): Promise<EditResult<T>> {
    const file = this.settings.configPath(configFlag)
    try {
      return await editRuleFile(file, fn, { env: this.settings.env })
    } catch (err) {
      throw await blameFlags(err, file)
    }
  }
}

/** The arguments and flags of `rule enable` and `rule disable` (oclif reads each command's own statics). */
export const switchArgs = { name: Args.string({ required: true, description: 'rule name' }) }
export const switchFlags = { ...configFlag }

/** `rule enable` and `rule disable`: one rule's `enabled` key. */
export abstract class RuleSwitchCommand extends RuleEditCommand {
  protected async switchRule(
    enabled: boolean,
  ): Promise<{ file: string; rule: string; enabled: boolean; changed: boolean }> {
    const { args, flags } = await this.parse({
      args: switchArgs,
      flags: switchFlags,
      baseFlags: BaseCommand.baseFlags,
      enableJsonFlag: true,
    } as never)
    const result = await this.editRules(flags.config, (doc) => setRuleEnabled(doc, args.name, enabled))
    this.logToStderr(`rule ${args.name} is ${enabled ? 'enabled' : 'disabled'}`)
    return { file: result.file, rule: args.name, enabled, changed: result.changed }
  }
}
