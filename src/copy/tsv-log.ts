import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'

/**
 * The file behind a local cache: tab-separated rows, appended in one write per task. Past twice
 * `maxRows` it is rewritten from the cache's content, after reading the file again so rows other
 * processes appended meanwhile are merged, not lost. A cache file that cannot be read or written
 * only costs speed, so nothing here throws.
 */
export class TsvLog {
  private pending: string[] = []
  private rows = 0

  /** `row` receives every well-formed row (`width` non-empty fields), oldest first */
  constructor(
    private readonly path: string,
    private readonly maxRows: number,
    private readonly width: number,
    private readonly row: (fields: string[]) => void,
  ) {}

  /** Reads the file (a missing one is empty); returns the number of rows it holds. */
  load(): number {
    let text = ''
    try {
      text = readFileSync(this.path, 'utf8')
    } catch {
      return 0 // no cache yet
    }
    let rows = 0
    for (const line of text.split('\n')) {
      const fields = line.split('\t')
      if (fields.length !== this.width || fields.some((f) => f === '')) continue
      this.row(fields)
      rows++
    }
    this.rows = rows
    return rows
  }

  add(fields: string[]): void {
    this.pending.push(`${fields.join('\t')}\n`)
  }

  /** Appends the pending rows; compacts to the newest `maxRows` of `current()` when oversized. */
  flush(current: () => string[][]): void {
    if (this.pending.length === 0) return
    try {
      mkdirSync(dirname(this.path), { recursive: true })
      appendFileSync(this.path, this.pending.join(''), { mode: 0o600 })
      this.rows += this.pending.length
      if (this.rows > 2 * this.maxRows) {
        this.load()
        const kept = current().slice(-this.maxRows)
        writeFileSync(`${this.path}.tmp`, kept.map((f) => `${f.join('\t')}\n`).join(''), { mode: 0o600 })
        renameSync(`${this.path}.tmp`, this.path)
        this.rows = kept.length
      }
    } catch {
      // speed only
    }
    this.pending = []
  }
}
