import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { type BlobLocations, MemoryBlobLocations } from './blob-copier.js'

/**
 * The cache beside the records file, or where IMGSYNC_BLOB_CACHE points; IMGSYNC_BLOB_CACHE=off
 * keeps locations in memory for the run only.
 */
export function blobLocationsFor(recordsPath: string, env: NodeJS.ProcessEnv = process.env): BlobLocations {
  const setting = env.IMGSYNC_BLOB_CACHE
  if (setting === 'off') return new MemoryBlobLocations()
  return new FileBlobLocations(setting || join(dirname(recordsPath), 'blob-locations.tsv'))
}

/** Entries kept; past twice this the file is rewritten with the newest ones. */
const MAX_ENTRIES = 200_000

/**
 * Which target repositories held which blobs in earlier runs, kept in a small tab-separated file,
 * so a later run mounts a layer from a sibling repository instead of uploading it again. An entry
 * that went stale (blob deleted) costs one refused mount, then a normal upload.
 */
export class FileBlobLocations implements BlobLocations {
  private readonly map = new Map<string, string[]>()
  private pending: string[] = []
  private lines = 0

  constructor(private readonly path: string) {
    let text = ''
    try {
      text = readFileSync(path, 'utf8')
    } catch {
      // no cache yet
    }
    for (const line of text.split('\n')) {
      const [registry, digest, repo] = line.split('\t')
      if (!registry || !digest || !repo) continue
      this.remember(registry, digest, repo)
      this.lines++
    }
  }

  find(registry: string, digest: string, exceptRepo: string): string | undefined {
    return this.map.get(`${registry}\t${digest}`)?.find((r) => r !== exceptRepo)
  }

  add(registry: string, repo: string, digest: string): void {
    if (this.remember(registry, digest, repo)) this.pending.push(`${registry}\t${digest}\t${repo}\n`)
  }

  /** Appends what this run learnt (one write); compacts an oversized file. Never fails a sync. */
  flush(): void {
    if (this.pending.length === 0) return
    try {
      mkdirSync(dirname(this.path), { recursive: true })
      this.lines += this.pending.length
      if (this.lines > 2 * MAX_ENTRIES) {
        const all: string[] = []
        for (const [key, repos] of this.map) for (const repo of repos) all.push(`${key}\t${repo}\n`)
        const kept = all.slice(-MAX_ENTRIES)
        writeFileSync(`${this.path}.tmp`, kept.join(''), { mode: 0o600 })
        renameSync(`${this.path}.tmp`, this.path)
        this.lines = kept.length
      } else {
        appendFileSync(this.path, this.pending.join(''), { mode: 0o600 })
      }
    } catch {
      // a cache that cannot be written only costs speed
    }
    this.pending = []
  }

  private remember(registry: string, digest: string, repo: string): boolean {
    const key = `${registry}\t${digest}`
    const repos = this.map.get(key) ?? []
    if (repos.includes(repo)) return false
    repos.push(repo)
    this.map.set(key, repos)
    return true
  }
}
