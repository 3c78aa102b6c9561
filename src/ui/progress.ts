// The progress line on a terminal: bytes with a total, a rate and an ETA, and images done. It is one
// line redrawn in place, never wider than the terminal (so line wrap is never turned off), and the
// cursor it hides is shown again on every way out (taskDone, abandon).
import type { ItemRecord, TaskRecord } from '../records/types.js'
import type { Descriptor } from '../registry/media-types.js'
import type { Plan } from '../sync/plan.js'
import type { TaskListener } from '../sync/task.js'
import type { BackendWatch } from '../sync/watched-registry.js'
import { formatBytes } from '../text.js'

const HIDE_CURSOR = '\u001b[?25l'
const SHOW_CURSOR = '\u001b[?25h'
const WRAP_ON = '\u001b[?7h'
const CLEAR_LINE = '\r\u001b[K'
const BAR_WIDTH = 20
/** the rate is the bytes of the last few seconds */
const RATE_WINDOW_MS = 5000

export interface ProgressState {
  images: number
  done: number
  /** bytes of the blobs whose download has started (grows as images resolve) */
  total: number
  moved: number
  /** bytes per second lately; 0 when unknown */
  rate: number
  last: string
}

/** 42 → "42s", 125 → "2m05s", 7300 → "2h01m". */
export function formatEta(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

/**
 * One progress line: ` ████░░░░  73.0 MiB/200 MiB  12.5 MiB/s  ETA 10s  0/1 images  1.0 synced`,
 * cut to `width` columns.
 */
export function progressText(p: ProgressState, width: number): string {
  const byBytes = p.total > 0
  const fraction = Math.min(1, byBytes ? p.moved / p.total : p.images > 0 ? p.done / p.images : 0)
  const full = Math.round(fraction * BAR_WIDTH)
  const parts = [` ${'█'.repeat(full)}${'░'.repeat(BAR_WIDTH - full)}`]
  if (byBytes) parts.push(`${formatBytes(p.moved)}/${formatBytes(Math.max(p.total, p.moved))}`)
  else if (p.moved > 0) parts.push(formatBytes(p.moved))
  if (p.rate > 0) {
    parts.push(`${formatBytes(Math.round(p.rate))}/s`)
    if (byBytes && p.total > p.moved) parts.push(`ETA ${formatEta((p.total - p.moved) / p.rate)}`)
  }
  parts.push(`${p.done}/${p.images} image${p.images === 1 ? '' : 's'}`)
  if (p.last) parts.push(p.last)
  const line = parts.join('  ')
  return line.length < width ? line : `${line.slice(0, Math.max(0, width - 2))}…`
}

export interface ProgressOptions {
  /** default process.stderr */
  stream?: NodeJS.WriteStream
  /** draw at all (a terminal, not --json) */
  enabled: boolean
  now?: () => number
  /** how often the line is redrawn while nothing happens (rate and ETA move on); default 250 ms */
  tickMs?: number
}

/** A progress line on stderr for each task with items; silent when not enabled. */
export class ProgressView implements TaskListener, BackendWatch {
  private readonly stream: NodeJS.WriteStream
  private readonly now: () => number
  private state: ProgressState | undefined
  private early: Pick<ProgressState, 'done' | 'total' | 'moved' | 'last'> = {
    done: 0,
    total: 0,
    moved: 0,
    last: '',
  }
  private counted = new Set<string>()
  private samples: { at: number; moved: number }[] = []
  private timer: NodeJS.Timeout | undefined
  private drawnAt = 0
  private visible = false
  private cursorHidden = false

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr
    this.now = opts.now ?? Date.now
  }

  /** A task starts: what its items do is counted from now, drawn once its plan is known. */
  taskStarted(_task: TaskRecord): void {
    this.early = { done: 0, total: 0, moved: 0, last: '' }
    this.counted = new Set()
  }

  /** Items start while the planner still lists: what they did by now is on the first line drawn. */
  planned(plan: Plan): void {
    this.stop()
    if (!this.opts.enabled || plan.items.length === 0) return
    this.state = { images: plan.items.length, rate: 0, ...this.early }
    this.samples = [{ at: this.now(), moved: this.early.moved }]
    this.timer = setInterval(() => this.draw(true), this.opts.tickMs ?? 250)
    this.timer.unref()
    this.draw(true)
  }

  blobStarted(registry: string, desc: Descriptor): void {
    const key = `${registry}\n${desc.digest}`
    if (this.counted.has(key)) return
    this.counted.add(key)
    this.counts.total += desc.size
    this.draw(false)
  }

  bytes(delta: number): void {
    const c = this.counts
    c.moved = Math.max(0, c.moved + delta)
    this.draw(false)
  }

  itemDone(item: ItemRecord): void {
    this.counts.done++
    this.counts.last = `${item.tag} ${item.status}`
    this.draw(true)
  }

  /** Where events count: the drawn state, or (before the plan is known) what it will start from. */
  private get counts(): Pick<ProgressState, 'done' | 'total' | 'moved' | 'last'> {
    return this.state ?? this.early
  }

  taskDone(_task: TaskRecord): void {
    this.stop()
  }

  /** Clears the line, so that what is written next (a notice) starts on a line of its own. */
  clear(): void {
    if (!this.visible) return
    this.stream.write(CLEAR_LINE)
    this.visible = false
  }

  /**
   * The run is over: nothing more is drawn, the cursor is shown, and the line is left empty for the
   * summary, also of the `^C` a terminal echoes for a Ctrl-C pressed after the stop notice.
   */
  end(): void {
    this.stop()
    if (this.opts.enabled) this.stream.write(CLEAR_LINE)
  }

  /** Stops drawing for good and gives the terminal back: line cleared, cursor shown, wrap on. */
  abandon(): void {
    this.stop()
    if (this.opts.enabled) this.stream.write(`${CLEAR_LINE}${SHOW_CURSOR}${WRAP_ON}`)
  }

  /** Ends the current line: cleared, cursor shown; nothing is drawn until the next task's plan. */
  private stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
    this.state = undefined
    this.clear()
    if (this.cursorHidden) this.stream.write(SHOW_CURSOR)
    this.cursorHidden = false
  }

  private draw(force: boolean): void {
    const state = this.state
    if (!state) return
    const now = this.now()
    if (!force && now - this.drawnAt < 100) return
    this.drawnAt = now
    this.samples.push({ at: now, moved: state.moved })
    while (this.samples.length > 2 && now - this.samples[1]!.at >= RATE_WINDOW_MS) this.samples.shift()
    const first = this.samples[0]!
    const seconds = (now - first.at) / 1000
    state.rate = seconds >= 0.5 ? Math.max(0, (state.moved - first.moved) / seconds) : state.rate
    const width = this.stream.columns || 80
    const hide = this.cursorHidden ? '' : HIDE_CURSOR
    this.cursorHidden = true
    this.stream.write(`${hide}${CLEAR_LINE}${progressText(state, width)}`)
    this.visible = true
  }
}
