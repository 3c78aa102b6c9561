// imgsync in a real terminal, for what only a terminal shows: the progress line, what Ctrl-C does to
// the screen, whether the cursor is visible and line wrap on afterwards, where the shell's prompt
// lands. A private tmux server (its own socket) runs `bash -c 'imgsync ARGS; …'` in a pane of a
// fixed size, with the harness's isolated environment (cli.ts); keys are typed with send-keys, so
// C-c reaches imgsync through the terminal as a user's Ctrl-C does.
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { BIN, isolatedEnvironment, type RunOptions } from './cli.js'

const run = promisify(execFile)

/** What bash prints after imgsync has ended, where the user's prompt would be. */
export const PROMPT = 'PROMPT$'

export interface TerminalState {
  cursorVisible: boolean
  wrap: boolean
  /** cursor column and row (0-based) */
  x: number
  y: number
}

export interface Terminal {
  /** the screen as text (trailing spaces trimmed); joined: wrapped lines as one */
  screen(opts?: { joined?: boolean }): Promise<string>
  /** types keys, as tmux send-keys names them: 'C-c', 'Enter' */
  keys(...keys: string[]): Promise<void>
  state(): Promise<TerminalState>
  /** resolves with the screen once it matches (checked every 50 ms); rejects after timeoutMs */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>
  /** imgsync's exit code, once it has ended */
  exitCode(timeoutMs?: number): Promise<number>
  /** the process id of imgsync (the pane's shell's child) while it runs */
  pid(): Promise<number>
  close(): Promise<void>
}

const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`

/** Starts imgsync in a `width` × `height` terminal. */
export async function startImgsyncInTerminal(
  args: string[],
  opts: Pick<RunOptions, 'env'> & { width?: number; height?: number } = {},
): Promise<Terminal> {
  const dir = mkdtempSync(join(tmpdir(), 'imgsync-terminal-'))
  const socket = join(dir, 'tmux.sock')
  const exitFile = join(dir, 'exit')
  const isolated = isolatedEnvironment({ env: { TERM: 'xterm-256color', ...opts.env } })
  const tmux = (...a: string[]) => run('tmux', ['-S', socket, '-f', '/dev/null', ...a], { env: isolated.env })
  const script = [
    `${quote(process.execPath)} ${quote(BIN)} ${args.map(quote).join(' ')}`,
    // once imgsync has ended, a Ctrl-C that comes late must not end the pane before it is read
    "status=$?; trap '' INT",
    `echo $status > ${quote(exitFile)}`,
    `printf '%s ' ${quote(PROMPT)}`,
    'exec sleep 600',
  ].join('; ')
  const { width = 100, height = 30 } = opts
  await tmux(
    'new-session',
    '-d',
    '-x',
    String(width),
    '-y',
    String(height),
    'bash',
    '--norc',
    '--noprofile',
    '-c',
    script,
  )

  const screen = async (o: { joined?: boolean } = {}) =>
    (await tmux('capture-pane', '-p', ...(o.joined ? ['-J'] : []))).stdout
      .split('\n')
      .map((l) => l.trimEnd())
      .join('\n')
      .trimEnd()
  const poll = async <T>(what: string, timeoutMs: number, get: () => Promise<T | undefined>): Promise<T> => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const value = await get()
      if (value !== undefined) return value
      if (Date.now() > deadline)
        throw new Error(`terminal: no ${what} after ${timeoutMs} ms:\n${await screen()}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  return {
    screen,
    async keys(...keys) {
      await tmux('send-keys', ...keys)
    },
    async state() {
      const out = (await tmux('display-message', '-p', '#{cursor_flag} #{wrap_flag} #{cursor_x} #{cursor_y}'))
        .stdout
      const [cursor, wrap, x, y] = out.trim().split(' ').map(Number)
      return { cursorVisible: cursor === 1, wrap: wrap === 1, x: x!, y: y! }
    },
    waitFor: (pattern, timeoutMs = 30_000) =>
      poll(String(pattern), timeoutMs, async () => {
        const text = await screen({ joined: true })
        return pattern.test(text) ? text : undefined
      }),
    exitCode: (timeoutMs = 30_000) =>
      poll('exit', timeoutMs, async () => {
        try {
          const text = readFileSync(exitFile, 'utf8').trim()
          return text === '' ? undefined : Number(text)
        } catch {
          return undefined
        }
      }),
    async pid() {
      const shell = Number((await tmux('display-message', '-p', '#{pane_pid}')).stdout.trim())
      const child = Number(
        readFileSync(`/proc/${shell}/task/${shell}/children`, 'utf8').trim().split(/\s+/)[0],
      )
      // never 0 or less: process.kill would signal the test's own process group
      if (!Number.isInteger(child) || child <= 1)
        throw new Error(`terminal: imgsync is not running (shell ${shell})`)
      return child
    },
    async close() {
      await tmux('kill-server').catch(() => undefined)
      isolated.dispose()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
