import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'

/**
 * The file behind a local cache: tab-separated rows, appended in one write per task and rewritten
 * from the cache's current content when it grows past twice `maxRows`. A cache file that cannot be
 * read or written only costs speed, so nothing here throws.
 */
export class TsvLog {
  private pending: string[] = []
  private rows = 0

  constructor(
    private readonly path: string,
    private readonly maxRows: number,
  ) {}

  /** Calls `row` for every well-formed row (as many fields as `width`), oldest first. */
  load(width: number, row: (fields: string[]) => void): void {
    let text = ''
    try {
      text = readFileSync(this.path, 'utf8')
    } catch {
      return // no cache yet
    }
    for (const line of text.split('\n')) {
      const fields = line.split('\t')
      if (fields.length !== width || fields.some((f) => f === '')) continue
      row(fields)
      this.rows++
    }
  }

  add(fields: string[]): void {
    this.pending.push(`${fields.join('\t')}\n`)
  }

  /** Appends the pending rows; compacts to the newest `maxRows` of `current()` when oversized. */
  flush(current: () => string[][]): void {
    if (this.pending.length === 0) return
    try {
      mkdirSync(dirname(this.path), { recursive: true })
      this.rows += this.pending.length
      if (this.rows > 2 * this.maxRows) {
        const kept = current().slice(-this.maxRows)
        writeFileSync(`${this.path}.tmp`, kept.map((f) => `${f.join('\t')}\n`).join(''), { mode: 0o600 })
        renameSync(`${this.path}.tmp`, this.path)
        this.rows = kept.length
      } else {
        appendFileSync(this.path, this.pending.join(''), { mode: 0o600 })
      }
    } catch {
      // speed only
    }
    this.pending = []
  }
}
