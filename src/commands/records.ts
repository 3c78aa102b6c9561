import { Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { withLiveness } from '../records/liveness.js'
import { ItemQuery, parseSince, type RecordFilter, TaskSummary } from '../records/query.js'
import { looksWhole, parseRecord, recordFiles, scanLines } from '../records/reader.js'
import type { ItemRecord, TaskRecord } from '../records/types.js'
import { printable } from '../text.js'
import { renderTable } from '../ui/table.js'
import { formatBytes, formatDuration } from '../ui/task-view.js'

export interface RecordsJson {
  items?: ItemRecord[]
  tasks?: TaskRecord[]
  /** file:line of lines that did not parse (skipped) */
  damaged: string[]
}

export default class Records extends BaseCommand {
  static summary = 'Show sync records: per-image history, or one row per task with --summary.'

  static description =
    `Reads the JSON-lines records that every sync and rule trigger appends (default $IMGSYNC_RECORDS or ~/.local/state/imgsync/records.jsonl).
Pass --records several times, or a directory, to read the records of several workers together. A damaged line is reported and skipped.`

  static examples = [
    { description: 'Tasks of the last day', command: '<%= config.bin %> records --summary --since 24h' },
    {
      description: 'Sync history of one image',
      command: '<%= config.bin %> records --repo team-a/app --tag 1.2.0',
    },
    {
      description: 'Failures of one rule, as JSON',
      command: '<%= config.bin %> records --rule app-to-bj --status failed --json',
    },
    {
      description: 'Records of three shard workers',
      command: '<%= config.bin %> records --summary --records w0.jsonl --records w1.jsonl --records w2.jsonl',
    },
  ]

  static flags = {
    records: Flags.string({
      summary: 'Records file or directory (repeatable).',
      multiple: true,
      helpValue: 'PATH',
    }),
    task: Flags.string({ summary: 'Only this task id.' }),
    rule: Flags.string({ summary: 'Only tasks of this rule.' }),
    repo: Flags.string({ summary: 'Only items of this repository (source or target path).' }),
    tag: Flags.string({ summary: 'Only items of this tag.' }),
    status: Flags.option({
      options: ['synced', 'skipped', 'failed', 'planned', 'excluded', 'interrupted', 'deleted'] as const,
      summary: 'Only items with this status.',
    })(),
    since: Flags.string({ summary: 'Only records since a duration ago (24h, 30m, 7d) or an ISO time.' }),
    limit: Flags.integer({ summary: 'At most N rows (newest first).', min: 1, default: 50 }),
    summary: Flags.boolean({ summary: 'One row per task: counts, success rate, time spent, status.' }),
  }

  async run(): Promise<RecordsJson> {
    const { flags } = await this.parse(Records)
    const paths = flags.records ?? [this.settings.recordsPath()]
    const filter: RecordFilter = {
      task: flags.task,
      rule: flags.rule,
      repo: flags.repo,
      tag: flags.tag,
      status: flags.status,
      since: flags.since ? parseSince(flags.since, Date.now()) : undefined,
      limit: flags.limit,
    }
    const files = await recordFiles(paths, flags.records !== undefined)
    const query = flags.summary ? new TaskSummary(filter) : new ItemQuery(filter)
    const damaged: string[] = []
    let damagedCount = 0
    await scanLines(files, (line, where) => {
      // lines a query does not want are not parsed, only checked for damage
      if (!query.wants(line) && looksWhole(line)) return
      const rec = parseRecord(line)
      if (rec) query.add(rec)
      else if (damagedCount++ < 5) damaged.push(where())
    })
    if (damagedCount > 0) this.warn(`skipped ${damagedCount} damaged line(s): ${damaged.join(', ')}`)
    if (files.length === 0) {
      this.log('no tasks recorded yet')
      return flags.summary ? { tasks: [], damaged } : { items: [], damaged }
    }
    if (query instanceof TaskSummary) {
      const tasks = query.result().map(withLiveness)
      this.log(tasks.length === 0 ? 'no tasks recorded' : renderTable(TASK_HEADERS, tasks.map(taskRow)))
      return { tasks, damaged }
    }
    const items = query.result()
    this.log(items.length === 0 ? 'no records match' : renderTable(ITEM_HEADERS, items.map(itemRow)))
    return { items, damaged }
  }
}

const TASK_HEADERS = [
  'TASK',
  'RULE',
  'TRIGGER',
  'STARTED',
  'TIME',
  'REPOS',
  'ITEMS',
  'SYNCED',
  'SKIPPED',
  'FAILED',
  'SUCCESS',
  'STATUS',
]
const ITEM_HEADERS = ['STARTED', 'SOURCE', 'TARGET', 'STATUS', 'TRIGGER', 'TIME', 'BYTES', 'CODE']

function localTime(iso: string): string {
  return iso.replace('T', ' ').slice(0, 19)
}

// a records file may hold text from older versions or other writers: show it only printable
function taskRow(t: TaskRecord): string[] {
  return [
    printable(t.taskId),
    printable(t.rule ?? '-'),
    t.trigger,
    localTime(t.startedAt),
    t.status === 'running' ? '…' : formatDuration(t.durationMs),
    String(t.repositories),
    String(t.items),
    String(t.synced),
    String(t.skipped),
    String(t.failed),
    t.status === 'running' && t.synced + t.skipped + t.failed === 0
      ? '…'
      : `${Math.round(t.successRate * 100)}%`,
    t.status + (t.dryRun ? ' (dry run)' : ''),
  ]
}

function itemRow(i: ItemRecord): string[] {
  return [
    localTime(i.startedAt),
    printable(i.source),
    printable(i.target),
    printable(i.status),
    i.trigger,
    formatDuration(i.durationMs),
    formatBytes(i.bytes),
    printable(i.code ?? ''),
  ]
}
