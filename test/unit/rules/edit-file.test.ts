// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the rule file syntax is literally ${VAR}
import { execFile } from 'node:child_process'
import { chmod, mkdir, mkdtemp, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { lock } from 'proper-lockfile'
import { describe, expect, it } from 'vitest'
import { ImgsyncError } from '../../../src/errors.js'
import { loadRuleFile } from '../../../src/rules/load.js'
import { addRule, deleteRule, editRuleFile, NEW_RULE_FILE, setRuleEnabled } from '../../../src/rules/save.js'

const run = promisify(execFile)
const require = createRequire(import.meta.url)
const viteNode = join(require.resolve('vite-node/package.json'), '..', 'vite-node.mjs')
const child = fileURLToPath(new URL('./edit-child.ts', import.meta.url))
const root = fileURLToPath(new URL('../../../', import.meta.url))

const tempDir = () => mkdtemp(join(tmpdir(), 'imgsync-edit-'))
const rule = (name: string) => ({ name, source: { registry: 'r' }, target: { registry: 'r' } })
const withRegistry = 'version: 1\nregistries:\n  r: { host: r.example.com }   # the one registry\nrules: []\n'

describe('editRuleFile', () => {
  it('creates the file (and its directory) with version 1 when missing', async () => {
    const file = join(await tempDir(), 'nested', 'imgsync.yaml')
    const result = await editRuleFile(file, () => {})
    expect(result.changed).toBe(true)
    expect(await readFile(file, 'utf8')).toBe(NEW_RULE_FILE)
    expect((await loadRuleFile(file, process.env)).config).toEqual({ version: 1, registries: {}, rules: [] })
  })

  it('writes the edit, keeps comments, and returns what fn returned', async () => {
    const file = join(await tempDir(), 'imgsync.yaml')
    await writeFile(file, withRegistry)
    const result = await editRuleFile(file, (doc) => {
      addRule(doc, rule('a'))
      return 'done'
    })
    expect(result.value).toBe('done')
    const text = await readFile(file, 'utf8')
    expect(text).toBe(result.text)
    expect(text).toContain('  r: { host: r.example.com }   # the one registry\n')
    expect((await loadRuleFile(file, process.env)).config.rules.map((r) => r.name)).toEqual(['a'])
  })

  it('does not rewrite the file when nothing changed', async () => {
    const file = join(await tempDir(), 'imgsync.yaml')
    await writeFile(file, withRegistry)
    const before = await stat(file)
    await new Promise((resolve) => setTimeout(resolve, 20))
    const result = await editRuleFile(file, () => {})
    expect(result.changed).toBe(false)
    expect((await stat(file)).mtimeMs).toBe(before.mtimeMs)
  })

  it('never writes an invalid result, and leaves no temp or lock files behind', async () => {
    const dir = await tempDir()
    const file = join(dir, 'imgsync.yaml')
    await writeFile(file, withRegistry)
    const err = await editRuleFile(file, (doc) =>
      addRule(doc, { name: 'a', source: { registry: 'missing' }, target: { registry: 'r' } }),
    ).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ImgsyncError)
    expect((err as ImgsyncError).code).toBe('CONFIG_INVALID')
    expect((err as ImgsyncError).message).toMatch(
      /^not saved, the edit would leave the rule file invalid: .*imgsync\.yaml:\d+:\d+: rules\[0\]\.source\.registry: unknown registry "missing"/,
    )
    expect(await readFile(file, 'utf8')).toBe(withRegistry)
    expect(await readdir(dir)).toEqual(['imgsync.yaml'])
  })

  it('passes through the errors of the edit itself (RULE_NOT_FOUND) and releases the lock', async () => {
    const file = join(await tempDir(), 'imgsync.yaml')
    await writeFile(file, withRegistry)
    await expect(editRuleFile(file, (doc) => deleteRule(doc, 'nope'))).rejects.toMatchObject({
      code: 'RULE_NOT_FOUND',
    })
    await editRuleFile(file, (doc) => addRule(doc, rule('after')))
  })

  it('edits a file that does not validate yet, if the result does (fixing it)', async () => {
    const file = join(await tempDir(), 'imgsync.yaml')
    const broken = `${withRegistry.replace('rules: []', 'rules:')}\n  - { name: bad, source: { registry: gone }, target: { registry: r } }\n`
    await writeFile(file, broken)
    await expect(loadRuleFile(file, process.env)).rejects.toThrow(/unknown registry "gone"/)
    await editRuleFile(file, (doc) => deleteRule(doc, 'bad'))
    expect((await loadRuleFile(file, process.env)).config.rules).toEqual([])
  })

  it('does not need the ${VAR} secrets of the file to edit it', async () => {
    const file = join(await tempDir(), 'imgsync.yaml')
    const text = withRegistry.replace(
      '{ host: r.example.com }',
      '{ host: r.example.com, credentials: { username: u, password: "${IMGSYNC_TEST_NOT_SET}" } }',
    )
    await writeFile(file, text)
    await editRuleFile(file, (doc) => addRule(doc, rule('a')), { env: {} })
    expect(await readFile(file, 'utf8')).toContain('password: "${IMGSYNC_TEST_NOT_SET}"')
  })

  it('rejects a YAML syntax error in the existing file', async () => {
    const file = join(await tempDir(), 'imgsync.yaml')
    await writeFile(file, 'version: 1\nrules: [\n')
    await expect(editRuleFile(file, () => {})).rejects.toMatchObject({ code: 'CONFIG_INVALID' })
  })

  it('keeps the file mode and writes through a symlink', async () => {
    const dir = await tempDir()
    const real = join(dir, 'real.yaml')
    const link = join(dir, 'imgsync.yaml')
    await writeFile(real, withRegistry)
    await chmod(real, 0o640)
    await symlink(real, link)
    await editRuleFile(link, (doc) => addRule(doc, rule('a')))
    expect((await stat(real)).mode & 0o777).toBe(0o640)
    expect(await readFile(link, 'utf8')).toContain('name: a')
    expect((await readdir(dir)).sort()).toEqual(['imgsync.yaml', 'real.yaml'])
  })

  it('fails with LOCKED after a bounded wait while another process holds the lock', async () => {
    const file = join(await tempDir(), 'imgsync.yaml')
    await writeFile(file, withRegistry)
    const release = await lock(file, { realpath: false, lockfilePath: `${file}.lock` })
    try {
      const started = Date.now()
      const err = await editRuleFile(file, (doc) => addRule(doc, rule('a')), { lockTimeoutMs: 300 }).catch(
        (e: unknown) => e,
      )
      expect(Date.now() - started).toBeLessThan(5_000)
      expect(err).toBeInstanceOf(ImgsyncError)
      expect((err as ImgsyncError).code).toBe('LOCKED')
      expect((err as ImgsyncError).message).toContain('imgsync.yaml.lock')
    } finally {
      await release()
    }
    await editRuleFile(file, (doc) => addRule(doc, rule('a')), { lockTimeoutMs: 300 })
  })

  it('serialises concurrent edits in one process: no update is lost', async () => {
    const file = join(await tempDir(), 'imgsync.yaml')
    await writeFile(file, withRegistry)
    const names = Array.from({ length: 10 }, (_, i) => `rule-${i}`)
    await Promise.all(
      names.map((name, i) =>
        editRuleFile(
          file,
          async (doc) => {
            await new Promise((resolve) => setTimeout(resolve, (i % 3) * 5))
            addRule(doc, rule(name))
            if (i % 2 === 0) setRuleEnabled(doc, name, false)
          },
          { lockTimeoutMs: 30_000 },
        ),
      ),
    )
    const { config } = await loadRuleFile(file, process.env)
    expect(config.rules.map((r) => r.name).sort()).toEqual([...names].sort())
    expect(config.rules.filter((r) => !r.enabled)).toHaveLength(5)
  })

  it('serialises 10 concurrent processes: all 10 rules arrive and the file parses', {
    timeout: 60_000,
  }, async () => {
    const dir = await tempDir()
    await mkdir(dir, { recursive: true })
    const file = join(dir, 'imgsync.yaml')
    // No file yet: the first writer creates it, under the same lock.
    const names = Array.from({ length: 10 }, (_, i) => `proc-${i}`)
    await Promise.all(
      names.map((name) =>
        run(process.execPath, [viteNode, '--root', root, child, file, name, '30'], { cwd: root }),
      ),
    )
    const { config } = await loadRuleFile(file, process.env)
    expect(config.rules.map((r) => r.name).sort()).toEqual([...names].sort())
    expect(Object.keys(config.registries)).toEqual(['127-0-0-1-5000'])
    expect((await readdir(dir)).sort()).toEqual(['imgsync.yaml'])
  })
})
