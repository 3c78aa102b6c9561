import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../../cli/base-command.js'
import { exitCodeForTask, worstExit } from '../../cli/exit-codes.js'
import { configFlag, taskFlags } from '../../cli/flags.js'
import { warnAboutLiteralPasswords } from '../../cli/rule-file.js'
import { runOptionsFrom, type TaskJson, withRunContext } from '../../cli/task-runner.js'
import { ExitCodes, exitCodeFor } from '../../errors.js'
import { loadRuleFile } from '../../rules/load.js'
import { parseShard } from '../../rules/match.js'
import { selectRules, triggerRules } from '../../sync/trigger.js'
import { renderTaskSummary } from '../../ui/task-view.js'

export interface TriggerJson {
  tasks: (TaskJson & { rule: string })[]
  /** rules that did not run, e.g. LOCKED by another run */
  errors: { rule: string; code: string; message: string }[]
}

export default class RuleTrigger extends BaseCommand {
  static summary = 'Run rules now: one sync task per rule.'

  static description =
    `Lists each rule's source repositories (the registry catalog, or the rule's own list), applies its tag and type filters, and copies what is missing or changed to the target namespace.
A rule runs under a lock: a second trigger of the same rule while one runs fails with LOCKED (exit 4), or waits with --wait. Triggering a disabled rule by name fails with RULE_DISABLED.
With --shard i/n only the repositories whose stable hash falls in shard i run, so n workers (e.g. a Kubernetes Indexed Job) split a rule between them.
On a terminal a progress line shows bytes copied of a total, the rate and the time left. Ctrl-C stops: images being copied get a few seconds, the rest are recorded interrupted, exit 130; a second Ctrl-C stops at once (the running task is still recorded).`

  static examples = [
    { description: 'Run one rule', command: '<%= config.bin %> rule trigger app-to-bj' },
    {
      description: 'Run every enabled rule, as JSON for CI',
      command: '<%= config.bin %> rule trigger --all --json',
    },
    {
      description: 'Preview what a rule would copy, and why other tags are left out',
      command: '<%= config.bin %> rule trigger app-to-bj --dry-run',
    },
    { description: 'Worker 2 of 4', command: '<%= config.bin %> rule trigger --all --shard 2/4' },
    {
      description: 'Ask the target for every tag (e.g. after someone else changed target tags)',
      command: '<%= config.bin %> rule trigger app-to-bj --full-check',
    },
  ]

  static strict = false

  static args = {
    names: Args.string({ description: 'rule names' }),
  }

  static flags = {
    ...configFlag,
    all: Flags.boolean({ summary: 'Run every enabled rule.' }),
    shard: Flags.string({
      summary: 'Run only shard INDEX of COUNT (0-based), split by repository.',
      helpValue: 'INDEX/COUNT',
    }),
    wait: Flags.integer({
      summary: 'Seconds to wait for a rule that another run holds (default: fail at once with LOCKED).',
      min: 0,
      default: 0,
      helpValue: 'SECONDS',
    }),
    'max-delete': Flags.integer({
      summary: 'For rules with prune: true, fail (PRUNE_LIMIT) instead of deleting more than N tags.',
      default: 10,
      min: 0,
      helpValue: 'N',
    }),
    'dry-run': taskFlags['dry-run'],
    concurrency: taskFlags.concurrency,
    'full-check': taskFlags['full-check'],
    records: taskFlags.records,
    verbose: taskFlags.verbose,
    'limit-rate': taskFlags['limit-rate'],
  }

  async run(): Promise<TriggerJson> {
    const { argv, flags } = await this.parse(RuleTrigger)
    const names = argv as string[]
    const shard = flags.shard ? parseShard(flags.shard) : undefined
    const ruleFile = this.settings.configPath(flags.config)
    const loaded = await loadRuleFile(ruleFile, this.settings.env)
    const { config } = loaded
    warnAboutLiteralPasswords(ruleFile, loaded.literalPasswords)
    const rules = selectRules(config, names, flags.all)
    const json = this.jsonEnabled()
    const runs = await withRunContext(this.settings, runOptionsFrom(json, flags), (ctx, listener) =>
      triggerRules(
        {
          ruleFile,
          config,
          rules,
          trigger: 'manual',
          dryRun: flags['dry-run'],
          concurrency: flags.concurrency,
          shard,
          waitMs: flags.wait * 1000,
          onLockWait: (rule) => {
            if (!json)
              process.stderr.write(
                `rule ${rule}: another run holds it; waiting up to ${flags.wait}s (Ctrl-C stops)\n`,
              )
          },
          maxDelete: flags['max-delete'],
        },
        ctx,
        listener,
      ),
    )

    const out: TriggerJson = { tasks: [], errors: [] }
    const codes: number[] = []
    for (const run of runs) {
      if (run.error) {
        out.errors.push({ rule: run.rule, code: run.error.code, message: run.error.message })
        codes.push(exitCodeFor(run.error.code))
        if (!json) process.stderr.write(`imgsync: error ${run.error.code}: ${run.error.message}\n`)
        continue
      }
      const result = run.result!
      if (!json)
        process.stderr.write(`rule ${run.rule}\n${renderTaskSummary(result, { verbose: flags.verbose })}\n`)
      codes.push(exitCodeForTask(result))
      out.tasks.push({
        rule: run.rule,
        task: result.task,
        items: result.items,
        ...(result.excluded.length > 0 && { excluded: result.excluded }),
      })
    }
    if (rules.length === 0 && !json) process.stderr.write('no enabled rules to run\n')
    // a stop signal ends the loop: the rules after it did not run, whatever the last one did
    const notRun = rules.slice(runs.length).map((r) => r.name)
    if (notRun.length > 0) {
      codes.push(ExitCodes.interrupted)
      if (!json) process.stderr.write(`not run (stopped): ${notRun.join(', ')}\n`)
    }
    process.exitCode = worstExit(codes, shard !== undefined)
    return out
  }
}
