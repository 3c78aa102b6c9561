// What a user sees in a terminal (tmux, test/harness/terminal.ts) while a copy runs and when they
// press Ctrl-C: a progress line in bytes with a total, a rate and an ETA; a first Ctrl-C whose notice
// is whole and on its own line; a second one that gives the terminal back (cursor shown, line wrap
// on, the prompt on a line of its own), records the task as interrupted, prints one summary line
// and exits 130; and a summary after which no progress line comes back.
import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, utimes } from 'node:fs/promises'
import { constants, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runImgsync, startImgsync } from '../harness/cli.js'
import { type FaultProxy, startFaultProxy, untilInjected } from '../harness/fault-proxy.js'
import { pushImageWithLayers, type SeededImage } from '../harness/graph-check.js'
import { type RunningRegistry, startRegistry } from '../harness/registry.js'
import { writeRuleFile } from '../harness/rule-file.js'
import { PROMPT, startImgsyncInTerminal, type Terminal } from '../harness/terminal.js'

let src: RunningRegistry
let dst: RunningRegistry
let dir: string
const proxies: FaultProxy[] = []
const terminals: Terminal[] = []
let many: SeededImage[] = []
let big: SeededImage
let grace: SeededImage[] = []

/** A proxy in front of the source that serves these layers at `bytesPerSecond`. */
async function slowSource(layers: string[], bytesPerSecond: number): Promise<FaultProxy> {
  const proxy = await startFaultProxy({ upstream: src.url })
  proxies.push(proxy)
  proxy.add({
    name: 'slow',
    method: 'GET',
    path: new RegExp(`/blobs/(${layers.join('|')})$`),
    fault: { kind: 'throttle', bytesPerSecond },
  })
  return proxy
}

async function terminal(args: string[], width = 100): Promise<Terminal> {
  const t = await startImgsyncInTerminal(args, { width })
  terminals.push(t)
  return t
}

/** In a terminal: many/app from a source that serves its layers at `bytesPerSecond`, into dst's NAME/app. */
async function copyManyInTerminal(name: string, bytesPerSecond: number, width?: number) {
  const proxy = await slowSource(
    many.flatMap((i) => i.layers),
    bytesPerSecond,
  )
  const records = join(dir, `${name}.jsonl`)
  const args = ['sync', 'repo', `${proxy.host}/many/app`, `${dst.host}/${name}/app`, '--concurrency', '2']
  return { t: await terminal([...args, '--records', records], width), records }
}

/**
 * In a terminal: `repo` exported first to a layout, then copied layout to layout under --limit-rate
 * (file copies that a stop does not cut), `concurrency` images at once.
 */
async function layoutCopyInTerminal(name: string, repo: string, limitRate: string, concurrency: number) {
  const from = join(dir, `${name}-src`)
  const prep = join(dir, `${name}-prep.jsonl`)
  const copy = await runImgsync(['sync', 'repo', `${src.host}/${repo}`, `oci:${from}`, '--records', prep])
  expect(copy.code, copy.stderr).toBe(0)
  const records = join(dir, `${name}-copy.jsonl`)
  const to = `oci:${join(dir, `${name}-dst`)}`
  const limits = ['--limit-rate', limitRate, '--concurrency', String(concurrency)]
  return { t: await terminal(['sync', 'repo', `oci:${from}`, to, ...limits, '--records', records]), records }
}

interface TaskLine {
  type: string
  status: string
  code?: string
  message?: string
  successRate?: number
}

async function taskLines(file: string): Promise<TaskLine[]> {
  const text = await readFile(file, 'utf8')
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as TaskLine)
    .filter((r) => r.type === 'task')
}

/** Whether `signal` waits to be delivered to process `pid` (false once it has ended). */
function pending(pid: number, signal: 'SIGINT'): boolean {
  const bit = 1n << BigInt(constants.signals[signal] - 1)
  let status: string
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch {
    return false
  }
  return ['SigPnd', 'ShdPnd'].some(
    (f) => (BigInt(`0x${new RegExp(`^${f}:\\s*(\\w+)`, 'm').exec(status)![1]}`) & bit) !== 0n,
  )
}

/** Whether process `pid` is still there (not ended, not a zombie waiting to be reaped). */
function alive(pid: number): boolean {
  try {
    return !/^State:\s*[ZX]/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))
  } catch {
    return false
  }
}

/**
 * Types Ctrl-C and waits until the stopped process `pid` has the SIGINT pending: tmux writes the
 * key to the terminal after send-keys returns, and the terminal echoes "^C" and signals only then.
 */
async function ctrlC(t: Terminal, pid: number): Promise<void> {
  await t.keys('C-c')
  for (let i = 0; !pending(pid, 'SIGINT'); i++) {
    if (i > 400) throw new Error(`no SIGINT pending for ${pid} 2 s after Ctrl-C`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** Ctrl-C that reaches imgsync now, not when tmux gets to it: held while the key is typed. */
async function ctrlCNow(t: Terminal): Promise<void> {
  const pid = await t.pid()
  process.kill(pid, 'SIGSTOP')
  try {
    await ctrlC(t, pid)
  } finally {
    process.kill(pid, 'SIGCONT')
  }
}

/**
 * Lets the stopped process `pid` run until `signal` is no longer pending (delivered), then stops it
 * again. False if the process ended meanwhile: on a loaded machine the test may be preempted between
 * SIGCONT and SIGSTOP long enough for the first signal's whole stop to run.
 */
async function delivered(pid: number, signal: 'SIGINT'): Promise<boolean> {
  try {
    for (let i = 0; pending(pid, signal); i++) {
      if (i > 200) throw new Error(`${signal} still pending for ${pid}`)
      process.kill(pid, 'SIGCONT')
      process.kill(pid, 'SIGSTOP')
      await new Promise((r) => setTimeout(r, 5))
    }
    return alive(pid)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false
    throw err
  }
}

/** The screen's lines from the first that matches `pattern` on. */
function linesFrom(screen: string, pattern: RegExp): string[] {
  const lines = screen.split('\n')
  return lines.slice(lines.findIndex((l) => pattern.test(l)))
}

beforeAll(async () => {
  ;[src, dst] = await Promise.all([startRegistry(), startRegistry()])
  dir = await mkdtemp(join(tmpdir(), 'imgsync-terminal-'))
  for (const tag of ['t1', 't2', 't3', 't4', 't5', 't6'])
    many.push(await pushImageWithLayers(src.url, 'many/app', tag, [96 * 1024]))
  big = await pushImageWithLayers(src.url, 'big/app', '1.0', [1024 * 1024])
  for (const tag of ['g1', 'g2', 'g3'])
    grace.push(await pushImageWithLayers(src.url, 'grace/app', tag, [128 * 1024]))
})

afterAll(async () => {
  await Promise.all(terminals.map((t) => t.close()))
  await Promise.all(proxies.map((p) => p.close()))
  await Promise.all([src?.stop(), dst?.stop()])
  if (dir) await rm(dir, { recursive: true, force: true })
  many = []
  grace = []
})

describe('the progress line', () => {
  it('one big image shows bytes of a total, a rate and an ETA, not an empty bar at 0/1', async () => {
    const proxy = await slowSource(big.layers, 200 * 1024)
    const t = await terminal([
      'sync',
      'tag',
      `${proxy.host}/big/app:1.0`,
      `${dst.host}/progress/app`,
      '--records',
      join(dir, 'progress.jsonl'),
    ])
    const seen = await t.waitFor(
      /█+░* +\d+(\.\d)? KiB\/1\.0 MiB {2}\d+(\.\d)? KiB\/s {2}ETA \d+s {2}0\/1 image/,
    )
    expect(seen).toContain('0/1 image')
    expect(await t.exitCode()).toBe(0)
    const screen = await t.screen()
    // when it ends the line is gone: the summary, then the prompt, each on its own line
    expect(linesFrom(screen, /^succeeded: 1 synced/)).toEqual([
      expect.stringMatching(/^succeeded: 1 synced, 0 skipped, 0 failed, 1\.0 MiB in /),
      `${PROMPT}`,
    ])
    expect((await t.state()).cursorVisible).toBe(true)
  })
})

describe('Ctrl-C', () => {
  it('once: the notice is whole, on its own line, even in a narrow terminal; no progress line after the summary', async () => {
    const { t, records } = await copyManyInTerminal('once', 32 * 1024, 40)
    // the bar: at 40 columns the rest of the line is cut once a byte total is known
    await t.waitFor(/[█░]{20}/)
    await t.keys('C-c')
    expect(await t.exitCode()).toBe(130)
    const screen = await t.screen({ joined: true })
    const lines = screen.split('\n')
    // the whole notice, starting a line (not glued to the progress line), wrapped, not cut
    expect(lines).toContain('imgsync: SIGINT: stopping; SIGINT again stops now')
    const summary = linesFrom(screen, /^interrupted: /)
    expect(summary[0]).toMatch(
      /^interrupted: \d synced, 0 skipped, 0 failed, \d not finished, .* — stopped by a signal; run the same command again to finish {2}task t-/,
    )
    // after the summary only the prompt: no progress line drawn again
    expect(summary.slice(1)).toEqual([PROMPT])
    const state = await t.state()
    expect(state).toMatchObject({ cursorVisible: true, wrap: true })
    expect((await taskLines(records)).map((l) => l.status)).toEqual(['running', 'interrupted'])
  })

  it('twice during a copy: the terminal given back, the task recorded interrupted, one summary line, exit 130', async () => {
    // layout to layout under --limit-rate: a stop does not cut file copies, so after the first
    // Ctrl-C the copy goes on through the grace period, and the second one comes during it
    // (two images of 96 KiB at 32 KiB/s: 6 s, longer than the grace period)
    const { t, records } = await layoutCopyInTerminal('twice', 'many/app', '32k', 2)
    await t.waitFor(/KiB\/s/)
    await ctrlCNow(t)
    await t.waitFor(/SIGINT again stops now/)
    await t.keys('C-c')
    expect(await t.exitCode(10_000)).toBe(130)

    const state = await t.state()
    expect(state).toMatchObject({ cursorVisible: true, wrap: true, x: PROMPT.length + 1 })
    const screen = await t.screen({ joined: true })
    expect(linesFrom(screen, /^imgsync: SIGINT: stopping/)).toEqual([
      'imgsync: SIGINT: stopping; SIGINT again stops now',
      expect.stringMatching(
        /^interrupted: \d synced, 0 skipped, 0 failed, \d not finished, .* — stopped at once by a second SIGINT; run the same command again to finish {2}task t-/,
      ),
      PROMPT,
    ])
    const tasks = await taskLines(records)
    expect(tasks.map((l) => l.status)).toEqual(['running', 'interrupted'])
    expect(tasks[1]).toMatchObject({ code: 'INTERRUPTED' })
    expect(tasks[1]!.message).toBe('stopped at once by a second SIGINT; run the same command again to finish')
  })

  it('twice, the second while the first is already ending it: the same, and the prompt on its own line', async () => {
    // Two Ctrl-C that both reach imgsync. Here the first one's stop takes a few milliseconds, less
    // than two key presses apart, so imgsync is held (SIGSTOP) while the keys are typed and each
    // SIGINT is let in on its own (SIGCONT): as on a machine busy enough to be slow to stop. If the
    // machine is so busy that imgsync ends while the first is let in, the second Ctrl-C cannot reach
    // it: that attempt says nothing about two, and a fresh copy is started (at most three).
    const held = async (attempt: number) => {
      const run = await copyManyInTerminal(`twice-${attempt}`, 16 * 1024)
      await run.t.waitFor(/KiB\/s/)
      const pid = await run.t.pid()
      process.kill(pid, 'SIGSTOP')
      await ctrlC(run.t, pid)
      if (!(await delivered(pid, 'SIGINT'))) return undefined
      // A Ctrl-C also discards output the terminal has not read yet (the tty flushes its queue on
      // an interrupt): the notice, if imgsync wrote it while let in, is let reach the screen first.
      await run.t.waitFor(/SIGINT again stops now/, 1000).catch(() => undefined)
      await ctrlC(run.t, pid)
      process.kill(pid, 'SIGCONT')
      return run
    }
    let attempt = 1
    let run = await held(attempt)
    while (!run && attempt < 3) run = await held(++attempt)
    expect(run, 'imgsync ended before the second Ctrl-C, three times').toBeDefined()
    const { t, records } = run!
    expect(await t.exitCode(10_000)).toBe(130)

    const state = await t.state()
    expect(state.cursorVisible).toBe(true)
    expect(state.wrap).toBe(true)
    const screen = await t.screen({ joined: true })
    // The terminal echoes each Ctrl-C as "^C" where the cursor is when the key is typed: a line may
    // start with that echo (the terminal's, not imgsync's output). Where depends on how far the held
    // imgsync got while its first SIGINT was let in: before its notice, before its summary, or (on
    // a machine busy enough to preempt the test meanwhile) after it, where the shell's prompt comes.
    const tail = linesFrom(screen, /^(\^C)?imgsync: SIGINT: stopping/)
    // the notice, one summary line, and the prompt on a line of its own. The second Ctrl-C either
    // comes while the copy still runs (it is cut off: "stopped at once"), or while the first one's
    // stop is already ending it (a few milliseconds here): either way the same three lines.
    expect(tail, screen).toEqual([
      expect.stringMatching(/^(\^C)?imgsync: SIGINT: stopping; SIGINT again stops now$/),
      expect.stringMatching(
        /^(\^C)?interrupted: 0 synced, 0 skipped, 0 failed, 6 not finished, 0 B in \S+ — stopped (at once by a second SIGINT|by a signal); run the same command again to finish {2}task t-/,
      ),
      expect.stringMatching(/^(\^C)?PROMPT\$$/),
    ])
    expect(screen.match(/\^C/g)?.length ?? 0, screen).toBeLessThanOrEqual(1)
    // the prompt starts its line (after the echo, if any): the cursor is right after it
    expect(state.x).toBe(tail[2]!.length + 1)

    const tasks = await taskLines(records)
    expect(tasks.map((l) => l.status)).toEqual(['running', 'interrupted'])
    expect(tasks[1]).toMatchObject({ code: 'INTERRUPTED', successRate: 0 })
    expect(tasks[1]!.message).toMatch(/run the same command again to finish/)
  })

  it('once, when every image then finishes within the grace period: it says so, not "interrupted"', async () => {
    // layout to layout: file copies that a stop does not cut, slowed by --limit-rate so the
    // Ctrl-C comes while all three are being copied
    const { t, records } = await layoutCopyInTerminal('grace', 'grace/app', '192k', 4)
    await t.waitFor(/KiB\/s/)
    await ctrlCNow(t)
    expect(await t.exitCode()).toBe(0)
    const screen = await t.screen({ joined: true })
    expect(linesFrom(screen, /^imgsync: SIGINT: stopping/)).toEqual([
      'imgsync: SIGINT: stopping; SIGINT again stops now',
      expect.stringMatching(
        /^succeeded: 3 synced, 0 skipped, 0 failed, .* — a stop signal came, but every item had finished {2}task t-/,
      ),
      PROMPT,
    ])
    expect(screen).not.toMatch(/run the same command again/)
    const tasks = await taskLines(records)
    expect(tasks.map((l) => l.status)).toEqual(['running', 'succeeded'])
    expect(tasks[1]).toMatchObject({ successRate: 1 })
  })
})

describe('Ctrl-C in rule trigger of several rules', () => {
  it('the rules after the stop do not run: said, and exit 130 whatever the one that ran did', async () => {
    const proxy = await slowSource(
      many.flatMap((i) => i.layers),
      16 * 1024,
    )
    const rule = (name: string, namespace: string) => ({
      name,
      source: { registry: 'slow', namespace: 'many', repositories: ['app'] },
      target: { registry: 'd', namespace },
    })
    const config = await writeRuleFile(join(dir, 'two-rules.yaml'), { slow: proxy.host, d: dst.host }, [
      rule('first', 'r1'),
      rule('second', 'r2'),
    ])
    const run = startImgsync(
      ['rule', 'trigger', 'first', 'second', '--config', config, '--records', join(dir, 'two.jsonl')],
      {
        timeoutMs: 60_000,
      },
    )
    await untilInjected(proxy, 'slow')
    run.kill('SIGINT')
    const exit = await run.exited
    expect(exit.code, run.stderr()).toBe(130)
    expect(run.stderr()).toContain('not run (stopped): second')
  })
})

describe('Ctrl-C while rule trigger --wait waits for another run', () => {
  it('ends the wait at once: the rule is named as not run, exit 130, nothing recorded', async () => {
    const config = await writeRuleFile(join(dir, 'waiting.yaml'), { s: src.host, d: dst.host }, [
      {
        name: 'held',
        source: { registry: 's', namespace: 'many', repositories: ['app'] },
        target: { registry: 'd', namespace: 'held' },
      },
    ])
    // another run holds the rule's lock: proper-lockfile's fresh lock directory (stale after 10 s)
    const locks = join(dir, 'wait-locks')
    const lock = join(locks, 'rule-held.lock')
    await mkdir(lock, { recursive: true })
    // kept fresh, as its holder would, however slowly imgsync starts
    const fresh = setInterval(() => utimes(lock, new Date(), new Date()).catch(() => undefined), 1000)
    const records = join(dir, 'waiting.jsonl')
    const run = startImgsync(
      ['rule', 'trigger', 'held', '--config', config, '--records', records, '--wait', '600'],
      {
        env: { IMGSYNC_LOCK_DIR: locks },
        timeoutMs: 60_000,
      },
    )
    // it says it waits, and why
    await run.waitForOutput('rule held: another run holds it; waiting up to 600s (Ctrl-C stops)', 30_000)
    run.kill('SIGINT')
    const exit = await run.exited
    clearInterval(fresh)
    expect(exit.code, run.stderr()).toBe(130)
    expect(run.stderr()).toContain('not run (stopped): held')
    await expect(readFile(records, 'utf8')).rejects.toThrow(/ENOENT/)
  })
})
