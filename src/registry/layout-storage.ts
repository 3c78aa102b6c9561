// Where an OCI image layout keeps its files. The layout logic (oci-layout.ts) speaks only this small
// interface, so another storage (an object store, a tar stream) is one new class. Paths are
// `/`-joined strings below the layout's root; errors keep their errno `code` (ENOENT, EACCES,
// ENOSPC…), which the layout turns into coded messages.
import { randomBytes } from 'node:crypto'
import { type FileHandle, mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import writeFileAtomic from 'write-file-atomic'

export interface StorageEntry {
  name: string
  directory: boolean
  file: boolean
}

export interface LayoutStorage {
  /** a file's text; undefined when it does not exist */
  readText(path: string): Promise<string | undefined>
  readBytes(path: string): Promise<Buffer>
  /** a regular file's size; undefined when there is none at `path` */
  size(path: string): Promise<number | undefined>
  /** a directory's entries; undefined when it does not exist */
  list(dir: string): Promise<StorageEntry[] | undefined>
  mkdirp(dir: string): Promise<void>
  /** replaces a small file as a whole: readers see the old or the new text, never a mix */
  replace(path: string, text: string): Promise<void>
  /** the file's bytes from `offset` on */
  read(path: string, offset?: number): Promise<Readable>
  /**
   * Writes `chunks` where readers cannot see them (in `scratchDir`), then, once `commit` accepts
   * what was written (it throws otherwise), puts it at `path` in one step. Nothing is left behind
   * on a failure.
   */
  store(path: string, chunks: AsyncIterable<Buffer>, commit: () => void, scratchDir: string): Promise<void>
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code
}

/** The layout on a local file system: atomic renames and fsync for everything that is kept. */
export class FsLayoutStorage implements LayoutStorage {
  async readText(path: string): Promise<string | undefined> {
    try {
      return await readFile(path, 'utf8')
    } catch (err) {
      if (errno(err) === 'ENOENT') return undefined
      throw err
    }
  }

  readBytes(path: string): Promise<Buffer> {
    return readFile(path)
  }

  async size(path: string): Promise<number | undefined> {
    try {
      const s = await stat(path)
      return s.isFile() ? s.size : undefined
    } catch (err) {
      const code = errno(err)
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined
      throw err
    }
  }

  async list(dir: string): Promise<StorageEntry[] | undefined> {
    try {
      const entries = await readdir(dir, { withFileTypes: true })
      return entries.map((e) => ({ name: e.name, directory: e.isDirectory(), file: e.isFile() }))
    } catch (err) {
      if (errno(err) === 'ENOENT') return undefined
      throw err
    }
  }

  async mkdirp(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true })
  }

  async replace(path: string, text: string): Promise<void> {
    // a temporary file in the same directory, fsynced, then renamed over the old one
    await writeFileAtomic(path, text, { fsync: true, mode: 0o644 })
  }

  async read(path: string, offset = 0): Promise<Readable> {
    const handle = await open(path, 'r')
    return handle.createReadStream({ start: offset })
  }

  async store(
    path: string,
    chunks: AsyncIterable<Buffer>,
    commit: () => void,
    scratchDir: string,
  ): Promise<void> {
    const tmp = join(scratchDir, `.imgsync-${randomBytes(8).toString('hex')}.tmp`)
    let handle: FileHandle | undefined
    try {
      handle = await open(tmp, 'wx', 0o644)
      for await (const chunk of chunks) {
        for (let off = 0; off < chunk.length; ) off += (await handle.write(chunk, off)).bytesWritten
      }
      commit()
      await handle.sync()
      await handle.close()
      handle = undefined
      await rename(tmp, path)
    } catch (err) {
      await handle?.close().catch(() => undefined)
      await unlink(tmp).catch(() => undefined)
      throw err
    }
  }
}
