// Which addresses count as "inside": a registry must not steer imgsync, or the credentials it
// holds, to an internal address (token realms, redirects, upload Locations) unless it lives there.
import { isIP } from 'node:net'

/** A loopback, private, link-local or unspecified IP literal (URL hostname form; v6 in brackets). */
export function isInternalIp(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  if (isIP(h) === 4) {
    const [a = 0, b = 0] = h.split('.').map(Number)
    return (
      a === 127 ||
      a === 10 ||
      a === 0 ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 169 && b === 254) ||
      (a === 100 && b >= 64 && b <= 127)
    )
  }
  if (isIP(h) === 6) {
    if (h === '::1' || h === '::') return true
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h)
    if (mapped) return isInternalIp(mapped[1]!)
    // the URL parser writes ::ffff:10.0.0.1 as ::ffff:a00:1
    const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(h)
    if (hex) {
      const hi = Number.parseInt(hex[1]!, 16)
      const lo = Number.parseInt(hex[2]!, 16)
      return isInternalIp(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`)
    }
    return /^f[cd]/.test(h) || /^fe[89ab]/.test(h)
  }
  return false
}

/** An internal IP literal or `localhost`: the registry itself lives on an inside network. */
export function isInternalHost(hostname: string): boolean {
  return hostname === 'localhost' || isInternalIp(hostname)
}
