// Reading records files as streams, line by line, in constant memory whatever their size: every
// rotated file of a records file (oldest first), or every *.jsonl in a directory. A damaged line (a
// crash mid-write) is counted and skipped.
import { createReadStream } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { ImgsyncError } from '../errors.js'
import { rotatedFiles } from './store.js'
import type { SyncRecord } from './types.js'

export interface ScanResult {
  /** "file:line" of the first damaged lines (at most 5) */
  damaged: string[]
  damagedCount: number
  /** files read */
  files: number
}

/**
 * The files to read for `paths`: a file and its rotated siblings (oldest first), or each *.jsonl
 * of a directory with theirs. A missing path the user named is an error (`required`); a missing
 * default file just has no records yet.
 */
export async function recordFiles(paths: string[], required: boolean): Promise<string[]> {
  const out: string[] = []
  for (const p of paths) {
    const s = await stat(p).catch(() => undefined)
    if (s?.isDirectory()) {
      const names = (await readdir(p)).filter((n) => n.endsWith('.jsonl')).sort()
      for (const n of names) out.push(...rotatedFiles(join(p, n)), join(p, n))
      continue
    }
    const rotated = rotatedFiles(p)
    if (!s && rotated.length === 0 && required) {
      throw new ImgsyncError('INVALID_ARGUMENT', `--records ${p}: no such file or directory`, {
        suggestions: [
          'name a records file or a directory of them; imgsync records with no --records reads the default one',
        ],
      })
    }
    out.push(...rotated, ...(s ? [p] : []))
  }
  return out
}

/** Calls `visit` with every complete record line of `files`, in order. */
export async function scanLines(
  files: string[],
  visit: (line: string, where: () => string) => void,
): Promise<number> {
  for (const file of files) {
    const lines = createInterface({
      input: createReadStream(file, { highWaterMark: 64 * 1024 }),
      crlfDelay: Infinity,
    })
    let n = 0
    try {
      for await (const line of lines) {
        n++
        if (line.trim() !== '') visit(line, () => `${file}:${n}`)
      }
    } catch (err) {
      throw new ImgsyncError('CONFIG_INVALID', `cannot read records file ${file}: ${(err as Error).message}`)
    }
  }
  return files.length
}

/**
 * Whether a line has the shape of one whole record, without parsing it (for lines a query skips
 * unread). `{"type":"` cannot occur inside a JSON string (its quotes would be escaped), so a second
 * one means a line cut by a crash with the next record written after it.
 */
export function looksWhole(line: string): boolean {
  return line.startsWith('{"type":"') && line.endsWith('}') && line.indexOf('{"type":"', 1) === -1
}

/** A record line as a record, or undefined when it is damaged. */
export function parseRecord(line: string): SyncRecord | undefined {
  try {
    const rec = JSON.parse(line) as SyncRecord
    if (rec && (rec.type === 'task' || rec.type === 'item') && typeof rec.taskId === 'string') return rec
  } catch {
    // damaged
  }
  return undefined
}

/** Reads records into memory: for tests and small files (the records command streams instead). */
export async function readRecords(paths: string[]): Promise<{ records: SyncRecord[]; damaged: string[] }> {
  const records: SyncRecord[] = []
  const damaged: string[] = []
  await scanLines(await recordFiles(paths, false), (line, where) => {
    const rec = parseRecord(line)
    if (rec) records.push(rec)
    else damaged.push(where())
  })
  return { records, damaged }
}
