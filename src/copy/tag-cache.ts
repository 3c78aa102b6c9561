import { TsvLog } from './tsv-log.js'

/**
 * What this machine last saw each target tag point at. A no-op re-sync then needs one tag list per
 * target repository instead of a HEAD per tag: a tag still listed there, whose remembered digest is
 * the source's and was checked within the trust window, is taken as up to date. What the cache
 * cannot see is another writer re-pointing a listed tag; such a change is found at the first run
 * after the window (default 24 h), or at once with --full-check.
 */
export interface TargetTags {
  /** the digest `tag` held when last pushed or checked, if that is recent enough to trust */
  known(registry: string, repo: string, tag: string): string | undefined
  /** records that `tag` was just pushed or checked to hold `digest` */
  remember(registry: string, repo: string, tag: string, digest: string): void
  /** persists what was remembered; called when a task ends */
  flush?(): void
}

/** Remembers nothing (IMGSYNC_TAG_CACHE=off): every target tag is asked for. */
export const NO_TARGET_TAGS: TargetTags = {
  known: () => undefined,
  remember: () => {},
}

const DAY_SECONDS = 24 * 60 * 60
/** Rows kept; past twice this the file is rewritten with the newest ones (loading 100k rows: ~0.2 s). */
const MAX_ROWS = 50_000

/**
 * The remembered target tags kept in `file` (`off`: none), trusted for `ttlSeconds`; a full check
 * trusts nothing but still records what it finds, so the next run starts from fresh facts.
 */
export function openTargetTags(file: string | 'off', ttlSeconds: number, fullCheck = false): TargetTags {
  if (file === 'off') return NO_TARGET_TAGS
  return new FileTargetTags(file, fullCheck ? 0 : ttlSeconds)
}

interface Seen {
  digest: string
  /** unix seconds of the push or check */
  at: number
}

export class FileTargetTags implements TargetTags {
  private readonly map = new Map<string, Seen>()
  private readonly log: TsvLog

  /** ttlSeconds: how long a check is trusted (0: never, as with --full-check) */
  constructor(
    path: string,
    private readonly ttlSeconds: number,
    private readonly now: () => number = () => Math.floor(Date.now() / 1000),
  ) {
    this.log = new TsvLog(path, MAX_ROWS, 5, ([registry, repo, tag, digest, at]) => {
      const seconds = Number(at)
      if (Number.isInteger(seconds)) this.set(key(registry!, repo!, tag!), { digest: digest!, at: seconds })
    })
    this.log.load()
  }

  known(registry: string, repo: string, tag: string): string | undefined {
    const seen = this.map.get(key(registry, repo, tag))
    if (!seen) return undefined
    const age = this.now() - seen.at
    return age >= 0 && age < this.ttlSeconds ? seen.digest : undefined
  }

  remember(registry: string, repo: string, tag: string, digest: string): void {
    const at = this.now()
    this.set(key(registry, repo, tag), { digest, at })
    this.log.add([registry, repo, tag, digest, String(at)])
  }

  /** Compaction keeps what could still be trusted (at least a day, whatever this run's window). */
  flush(): void {
    const oldest = this.now() - Math.max(this.ttlSeconds, DAY_SECONDS)
    this.log.flush(() =>
      [...this.map]
        .filter(([, seen]) => seen.at >= oldest)
        .map(([k, seen]) => [...k.split('\t'), seen.digest, String(seen.at)]),
    )
  }

  /** The newest observation wins, whichever process appended it first; newest last in the map. */
  private set(k: string, seen: Seen): void {
    const had = this.map.get(k)
    if (had && had.at > seen.at) return
    this.map.delete(k)
    this.map.set(k, seen)
  }
}

function key(registry: string, repo: string, tag: string): string {
  return `${registry}\t${repo}\t${tag}`
}
