// WWW-Authenticate parsing (RFC 7235): pure. Quoted values may hold commas
// (scope="repository:a:pull,push"), so a naive split on "," would corrupt them.

export interface Challenge {
  scheme: string
  params: Record<string, string>
}

/** Parses one or more header values into challenges, in order. */
export function parseChallenges(headers: string | string[] | undefined): Challenge[] {
  if (headers === undefined) return []
  const values = Array.isArray(headers) ? headers : [headers]
  const out: Challenge[] = []
  for (const value of values) out.push(...parseOne(value))
  return out
}

function parseOne(value: string): Challenge[] {
  const out: Challenge[] = []
  let i = 0
  const n = value.length
  const skipSpace = () => {
    while (i < n && (value[i] === ' ' || value[i] === '\t')) i++
  }
  let current: Challenge | undefined
  while (i < n) {
    skipSpace()
    if (value[i] === ',') {
      i++
      continue
    }
    const start = i
    while (i < n && /[^\s,=]/.test(value[i]!)) i++
    const token = value.slice(start, i)
    if (token === '') break
    skipSpace()
    if (value[i] === '=' && current) {
      i++
      skipSpace()
      let param = ''
      if (value[i] === '"') {
        i++
        while (i < n && value[i] !== '"') {
          if (value[i] === '\\' && i + 1 < n) i++
          param += value[i]
          i++
        }
        i++
      } else {
        const s = i
        while (i < n && value[i] !== ',') i++
        param = value.slice(s, i).trim()
      }
      current.params[token.toLowerCase()] = param
    } else {
      current = { scheme: token.toLowerCase(), params: {} }
      out.push(current)
    }
  }
  return out
}

/** Bearer wins over Basic when a registry offers both. */
export function pickChallenge(challenges: Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic')
}
