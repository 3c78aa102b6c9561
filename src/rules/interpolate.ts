// `${NAME}` in string values of the rule file is replaced from the environment, so secrets stay out
// of the file. `$${` writes a literal `${`. Only values are interpolated, never keys.

export type Path = (string | number)[]

export interface InterpolationProblem {
  path: Path
  message: string
  /** set when the problem is an unset variable (edits tolerate those) */
  variable?: string
}

export interface InterpolationResult {
  value: unknown
  problems: InterpolationProblem[]
}

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/** Interpolates every string in a plain JS value (from `doc.toJS()`); never throws. */
export function interpolate(value: unknown, env: NodeJS.ProcessEnv): InterpolationResult {
  const problems: InterpolationProblem[] = []
  const walk = (v: unknown, path: Path): unknown => {
    if (typeof v === 'string') return interpolateString(v, env, path, problems)
    if (Array.isArray(v)) return v.map((item, i) => walk(item, [...path, i]))
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {}
      for (const [k, item] of Object.entries(v)) out[k] = walk(item, [...path, k])
      return out
    }
    return v
  }
  return { value: walk(value, []), problems }
}

function interpolateString(
  text: string,
  env: NodeJS.ProcessEnv,
  path: Path,
  problems: InterpolationProblem[],
): string {
  if (!text.includes('${')) return text
  let out = ''
  let i = 0
  while (i < text.length) {
    if (text.startsWith('$${', i)) {
      out += '${'
      i += 3
    } else if (text.startsWith('${', i)) {
      const end = text.indexOf('}', i + 2)
      if (end < 0) {
        problems.push({ path, message: 'unterminated ${ (write $${ for a literal ${)' })
        return text
      }
      const name = text.slice(i + 2, end)
      if (!VARIABLE_NAME.test(name)) {
        problems.push({
          path,
          message: `invalid variable reference \${${name}}: use \${NAME} with letters, digits and _ (or $\${ for a literal \${)`,
        })
        return text
      }
      const resolved = env[name]
      if (resolved === undefined) {
        problems.push({
          path,
          variable: name,
          message: `environment variable ${name} is not set (referenced as \${${name}})`,
        })
        // Keep the reference: edits validate with unset variables and must not rewrite them.
        out += text.slice(i, end + 1)
      } else out += resolved
      i = end + 1
    } else {
      out += text[i]
      i++
    }
  }
  return out
}
