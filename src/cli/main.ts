// What bin/run.js runs: oclif, with the habits of docker, skopeo and crane users (`-h`, `imgsync
// version`; package.json oclif.additionalHelpFlags / additionalVersionFlags) and every error, an
// unknown command included, as the one `imgsync: error CODE: …` line with what was meant.
import { Config, Errors, flush, type Interfaces, run } from '@oclif/core'
import { ImgsyncError } from '../errors.js'
import { asImgsyncError, didYouMean, errorJson, errorLine } from './report.js'

/** Runs the CLI on `argv` (without node and the script); sets process.exitCode on an error. */
export async function main(argv: string[], load: Interfaces.LoadOptions): Promise<void> {
  const json = argv.includes('--json')
  try {
    const config = await Config.load(load)
    const unknown = unknownCommand(argv, config)
    if (unknown) throw unknown
    await run(argv, config)
    flush()
  } catch (err) {
    // this.exit(code) in a command (or a plugin's): an exit code, nothing to say
    if (err instanceof Errors.ExitError) {
      process.exitCode = err.oclif.exit ?? 0
      return
    }
    const e = asImgsyncError(err)
    process.exitCode = e.exitCode
    if (json) process.stdout.write(`${JSON.stringify(errorJson(e), null, 2)}\n`)
    else process.stderr.write(errorLine(e))
  }
}

/** How users type command ids: `sync tag`. */
const spaced = (id: string) => id.replaceAll(':', ' ')

/**
 * An error for a first word that is no command or topic (`synk`), or a second word that is no
 * command of its topic (`sync tg`), saying what was probably meant; undefined when argv is fine.
 */
export function unknownCommand(argv: string[], config: Config): ImgsyncError | undefined {
  const words: string[] = []
  for (const arg of argv) {
    if (arg.startsWith('-') || words.length === 2) break
    words.push(arg)
  }
  if (words.length === 0) return undefined
  const ids = config.commandIDs
  const topics = config.topics.map((t) => t.name)
  const additional = config.pjson.oclif.additionalVersionFlags ?? []
  const [first, second] = words
  if (additional.includes(first!)) return undefined
  if (ids.includes(first!)) return undefined
  if (!topics.includes(first!)) {
    const known = [...new Set([...ids.map((id) => id.split(':')[0]!), ...topics, ...additional])]
    return notFound(first!, known, config.bin)
  }
  if (second === undefined) return undefined
  const id = `${first}:${second}`
  if (ids.includes(id) || topics.includes(id)) return undefined
  const under = ids.filter((i) => i.startsWith(`${first}:`))
  const near = didYouMean(id, under, (c) => `"${config.bin} ${spaced(c)}"`)
  return new ImgsyncError('INVALID_ARGUMENT', `unknown command "${first} ${second}"`, {
    suggestions: [
      ...near,
      `${config.bin} ${first} has: ${under.map((c) => c.split(':')[1]).join(', ')}; see ${config.bin} ${first} --help`,
    ],
  })
}

function notFound(word: string, known: string[], bin: string): ImgsyncError {
  return new ImgsyncError('INVALID_ARGUMENT', `unknown command "${word}"`, {
    suggestions: [...didYouMean(word, known, (c) => `"${bin} ${c}"`), `${bin} --help lists the commands`],
  })
}
