// The timed side of `serve`: schedule rules on their cron (in their time zone), and a periodic
// reconcile of auto rules (syncing what push events missed). A rule never overlaps itself: a tick
// that comes while the rule still runs is skipped, counted, and told once per streak of skips; the
// run that caused the streak carries its count on its task line.
import { Cron } from 'croner'
import type { Rule } from '../rules/schema.js'
import type { Overlap } from '../sync/task.js'

export interface ScheduleHooks {
  /** runs the rule (a scheduled run, or an auto rule's reconcile) */
  run: (rule: Rule, why: 'scheduled' | 'reconcile', overlap: Overlap) => Promise<void>
  /** a tick was skipped because the rule still ran */
  skipped: (rule: Rule, streak: number) => void
  say: (line: string) => void
}

export class Schedules {
  private crons: Cron[] = []
  private timers: NodeJS.Timeout[] = []
  /** rules running now from a tick or a reconcile, with the ticks skipped meanwhile (survives a reload) */
  private readonly runningRules = new Map<string, Overlap>()

  constructor(private readonly hooks: ScheduleHooks) {}

  /** Scheduled and reconcile runs going on now. */
  get running(): number {
    return this.runningRules.size
  }

  get count(): number {
    return this.crons.length
  }

  /** (Re)starts the timers for `rules`; `reconcileMs` 0 turns reconciles off. */
  start(rules: Rule[], reconcileMs: number): void {
    this.stop()
    for (const rule of rules) {
      if (!rule.enabled) continue
      if (rule.trigger.type === 'schedule') {
        const { cron, timezone } = rule.trigger
        const job = new Cron(cron, { timezone, catch: true }, () => this.tick(rule, 'scheduled'))
        this.crons.push(job)
        const next = job.nextRun()?.toISOString()
        this.hooks.say(
          `rule ${rule.name}: scheduled "${cron}"${timezone ? ` ${timezone}` : ''}, next ${next}`,
        )
      } else if (rule.trigger.type === 'auto' && reconcileMs > 0) {
        this.timers.push(setInterval(() => this.tick(rule, 'reconcile'), reconcileMs))
      }
    }
  }

  stop(): void {
    for (const c of this.crons) c.stop()
    for (const t of this.timers) clearInterval(t)
    this.crons = []
    this.timers = []
  }

  /** Runs the rule unless it still runs from an earlier tick (then the tick is skipped). */
  async tick(rule: Rule, why: 'scheduled' | 'reconcile'): Promise<void> {
    const busy = this.runningRules.get(rule.name)
    if (busy) {
      busy.skippedTicks++
      this.hooks.skipped(rule, busy.skippedTicks)
      return
    }
    const overlap: Overlap = { skippedTicks: 0 }
    this.runningRules.set(rule.name, overlap)
    try {
      await this.hooks.run(rule, why, overlap)
    } finally {
      this.runningRules.delete(rule.name)
      if (overlap.skippedTicks > 0)
        this.hooks.say(`rule ${rule.name}: ${overlap.skippedTicks} tick(s) skipped while it still ran`)
    }
  }
}
