// Number and size formatting for the bench's log lines, tables and README section.
export const MiB = 1024 * 1024

export const log = (msg) => process.stderr.write(`[bench] ${msg}\n`)
export const secs = (ms) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 1000).toFixed(2)} s`)
export const mb = (bytes) => `${(bytes / 1e6).toFixed(bytes >= 1e7 ? 0 : 1)} MB`
export const ratio = (a, b) => (a > 0 && b > 0 ? a / b : Number.NaN)
export const fmtRatio = (r, digits = 2) => (Number.isFinite(r) ? `${r.toFixed(digits)}×` : '–')
export const atMost = (x, limit) => Number.isFinite(x) && x <= limit
export const round3 = (x) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : null)

export function bytesText(n) {
  if (n === 0) return '0 B'
  if (n < 1e4) return `${n} B`
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`
  return mb(n)
}

/** 1048576 → "1 MiB", 65536 → "64 KiB" (parameters are given in binary units) */
export function binarySize(n) {
  if (n >= MiB && n % (MiB / 4) === 0) return `${n / MiB} MiB`
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`
  return `${n} B`
}
