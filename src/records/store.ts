import {
  closeSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs'
import { dirname } from 'node:path'
import { ImgsyncError } from '../errors.js'
import { redact } from '../log.js'
import type { SyncRecord } from './types.js'

/** When the records file is rotated, and how many rotated files are kept. */
export interface Rotation {
  /** bytes the file may reach before it is rotated */
  maxBytes: number
  /** rotated files kept (`records.jsonl.1` is the newest); older ones are deleted */
  keep: number
}

export const DEFAULT_ROTATION: Rotation = { maxBytes: 100 * 1024 * 1024, keep: 10 }

/** The rotated files of `path`, oldest first (`path.N` … `path.1`), for readers. */
export function rotatedFiles(path: string, keep = 1000): string[] {
  const out: string[] = []
  for (let n = 1; n <= keep; n++) {
    try {
      statSync(`${path}.${n}`)
    } catch {
      break
    }
    out.unshift(`${path}.${n}`)
  }
  return out
}

/** Holds a directory-based lock while rotating, so two processes never rename at once. */
function withRotationLock(path: string, fn: () => void): void {
  const lock = `${path}.rotating`
  try {
    mkdirSync(lock)
  } catch {
    // another process rotates now (or died doing so a while ago: then the lock is stale)
    try {
      if (Date.now() - statSync(lock).mtimeMs < 60_000) return
    } catch {
      return
    }
  }
  try {
    fn()
  } finally {
    rmSync(lock, { recursive: true, force: true })
  }
}

/**
 * Appends records as whole lines. Each line goes out in one write() on an O_APPEND descriptor, so
 * concurrent tasks (and processes) never interleave inside a line, and a crash leaves at most one
 * partial last line, which the reader skips. Past `rotation.maxBytes` the file is renamed to
 * `.1` (and `.1` to `.2` …, keeping `rotation.keep`); a writer whose file was moved away (rotated
 * by another process, or by logrotate before a SIGHUP) reopens the path.
 */
export class RecordWriter {
  private fd: number | undefined
  private size = 0
  private checkedAt = 0

  constructor(
    readonly path: string,
    private readonly rotation: Rotation = DEFAULT_ROTATION,
  ) {}

  append(record: SyncRecord): void {
    // records hold references and outcomes only; redact() is a last guard against a leaked secret
    const line = Buffer.from(`${redact(JSON.stringify(record))}\n`)
    this.ensureOpen()
    const { maxBytes } = this.rotation
    if (maxBytes > 0 && this.size + line.length > maxBytes && this.size > 0) this.rotate()
    writeSync(this.fd!, line)
    this.size += line.length
  }

  /** Closes the file; the next append opens the path again (SIGHUP after logrotate moved it). */
  reopen(): void {
    this.close()
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

  private ensureOpen(): void {
    if (this.fd !== undefined && Date.now() - this.checkedAt > 1000) {
      this.checkedAt = Date.now()
      // another process may have rotated the file: follow the path, not the descriptor
      if (this.movedAway()) this.close()
    }
    if (this.fd !== undefined) return
    try {
      mkdirSync(dirname(this.path), { recursive: true })
      this.fd = openSync(this.path, 'a', 0o600)
      this.size = fstatSync(this.fd).size
      this.checkedAt = Date.now()
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

  private movedAway(): boolean {
    try {
      return statSync(this.path).ino !== fstatSync(this.fd!).ino
    } catch {
      return true
    }
  }

  private rotate(): void {
    withRotationLock(this.path, () => {
      // another process may have rotated already: then the path is a new, small file
      if (this.movedAway()) return
      const { keep } = this.rotation
      rmSync(`${this.path}.${keep}`, { force: true })
      for (let n = keep - 1; n >= 1; n--) {
        try {
          renameSync(`${this.path}.${n}`, `${this.path}.${n + 1}`)
        } catch {
          // not there (yet)
        }
      }
      if (keep > 0) renameSync(this.path, `${this.path}.1`)
      else rmSync(this.path, { force: true })
    })
    this.close()
    this.ensureOpen()
  }
}
