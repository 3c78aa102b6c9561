import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs'
import { readdir, readFile, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { ImgsyncError } from '../errors.js'
import { redact } from '../log.js'
import type { SyncRecord } from './types.js'

/**
 * Appends records as whole lines. Each line goes out in one write() on an O_APPEND descriptor, so
 * concurrent tasks (and processes) never interleave inside a line, and a crash leaves at most one
 * partial last line, which the reader skips.
 */
export class RecordWriter {
  private fd: number | undefined

  constructor(readonly path: string) {}

  append(record: SyncRecord): void {
    if (this.fd === undefined) {
      try {
        mkdirSync(dirname(this.path), { recursive: true })
        this.fd = openSync(this.path, 'a', 0o600)
      } catch (err) {
        throw new ImgsyncError(
          'CONFIG_INVALID',
          `cannot open the records file ${this.path}: ${(err as Error).message}`,
          {
            suggestions: ['pass --records FILE or set IMGSYNC_RECORDS to a writable path'],
          },
        )
      }
    }
    // records hold references and outcomes only; redact() is a last guard against a leaked secret
    writeSync(this.fd, Buffer.from(`${redact(JSON.stringify(record))}\n`))
  }

  close(): void {
    if (this.fd === undefined) return
    try {
      fsyncSync(this.fd)
    } catch {
      // fsync is best effort (e.g. /dev/stdout)
    }
    closeSync(this.fd)
    this.fd = undefined
  }
}

export interface ReadResult {
  records: SyncRecord[]
  /** "file:line" of lines that did not parse; reported, never fatal */
  damaged: string[]
}

/** Reads one or more records files, or every *.jsonl in a directory. A missing file reads as empty. */
export async function readRecords(paths: string[]): Promise<ReadResult> {
  const out: ReadResult = { records: [], damaged: [] }
  for (const p of await expand(paths)) {
    let text: string
    try {
      text = await readFile(p, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue
      throw new ImgsyncError('CONFIG_INVALID', `cannot read records file ${p}: ${(err as Error).message}`)
    }
    const lines = text.split('\n')
    lines.forEach((line, i) => {
      if (line.trim() === '') return
      try {
        const rec = JSON.parse(line) as SyncRecord
        if (rec && (rec.type === 'task' || rec.type === 'item') && typeof rec.taskId === 'string') {
          out.records.push(rec)
          return
        }
      } catch {
        // fall through to damaged
      }
      out.damaged.push(`${p}:${i + 1}`)
    })
  }
  return out
}

async function expand(paths: string[]): Promise<string[]> {
  const out: string[] = []
  for (const p of paths) {
    const s = await stat(p).catch(() => undefined)
    if (s?.isDirectory()) {
      const names = (await readdir(p)).filter((n) => n.endsWith('.jsonl')).sort()
      out.push(...names.map((n) => join(p, n)))
    } else {
      out.push(p)
    }
  }
  return out
}
