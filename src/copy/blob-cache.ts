import { type BlobLocations, MemoryBlobLocations } from './blob-copier.js'
import { TsvLog } from './tsv-log.js'

/** Blob locations kept in `file`; `off` keeps them in memory for the run only. */
export function openBlobLocations(file: string | 'off'): BlobLocations {
  return file === 'off' ? new MemoryBlobLocations() : new FileBlobLocations(file)
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
  private readonly log: TsvLog

  constructor(path: string) {
    this.log = new TsvLog(path, MAX_ENTRIES, 3, ([registry, digest, repo]) =>
      this.remember(registry!, digest!, repo!),
    )
    this.log.load()
  }

  find(registry: string, digest: string, exceptRepo: string): string | undefined {
    return this.map.get(`${registry}\t${digest}`)?.find((r) => r !== exceptRepo)
  }

  holds(registry: string, repo: string, digest: string): boolean {
    return this.map.get(`${registry}\t${digest}`)?.includes(repo) ?? false
  }

  add(registry: string, repo: string, digest: string): void {
    if (this.remember(registry, digest, repo)) this.log.add([registry, digest, repo])
  }

  /** Appends what this run learnt (one write); compacts an oversized file. Never fails a sync. */
  flush(): void {
    this.log.flush(() => {
      const all: string[][] = []
      for (const [key, repos] of this.map) for (const repo of repos) all.push([...key.split('\t'), repo])
      return all
    })
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
