// Text that came from outside (a registry's error message, an annotation, a name) is shown to a
// person: control characters are replaced so it cannot move the cursor, recolour the terminal, or
// start a forged line of its own ("\nimgsync: error ...").

// C0 controls (newline and tab included), DEL and the C1 controls
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]+/g

/** One line of printable text: every run of control characters becomes one space. */
export function printable(text: string): string {
  return text.replace(CONTROL, ' ')
}

/** Like printable(), but keeps line breaks (for multi-line output imgsync composes itself). */
export function printableLines(text: string): string {
  return text
    .split('\n')
    .map((line) => printable(line))
    .join('\n')
}

/** 1536 → "1.5 KiB"; binary units, as registries and docker report sizes. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`
}

const BYTE_SUFFIX: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }

/**
 * "50M", "256k", "1.5G", "1048576" → bytes (k/M/G are 1024-based, as curl's --limit-rate; an
 * optional trailing B or iB is fine); undefined when it is not a positive size.
 */
export function parseByteSize(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text > 0 ? Math.floor(text) : undefined
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?\s*$/i.exec(text)
  if (!m) return undefined
  const bytes = Math.floor(Number(m[1]) * BYTE_SUFFIX[m[2]!.toLowerCase()]!)
  return bytes > 0 ? bytes : undefined
}

const DURATION_UNIT: Record<string, number> = {
  '': 1000,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
}

/** "30s", "15m", "1h", "500ms", "90" (seconds) → ms; undefined when it is not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(text)
  if (!m) return undefined
  return Math.round(Number(m[1]) * DURATION_UNIT[(m[2] ?? '').toLowerCase()]!)
}

/** Levenshtein distance: the single-character edits that turn a into b. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1))
      diagonal = above
    }
  }
  return row[b.length]!
}

/**
 * The candidates a mistyped `word` most likely meant: the nearest by edit distance (at most 2, and
 * less than half the word), or those it is a prefix of; nearest first, at most three.
 */
export function closest(word: string, candidates: readonly string[]): string[] {
  const w = word.toLowerCase()
  const scored = [...new Set(candidates)]
    .map((c) => ({ c, d: editDistance(w, c.toLowerCase()) }))
    .filter(({ c, d }) => (d <= 2 && d < Math.max(2, w.length / 2)) || (w.length >= 2 && c.startsWith(w)))
    .sort((a, b) => a.d - b.d || a.c.localeCompare(b.c))
  return scored.slice(0, 3).map((s) => s.c)
}
