// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the rule file syntax is literally ${VAR}
import { readFileSync } from 'node:fs'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { Settings } from '../../../src/cli/settings.js'
import { ImgsyncError } from '../../../src/errors.js'
import { loadRuleFile, parseRuleFile, resolveRuleFilePath } from '../../../src/rules/load.js'
import { ruleFileJsonSchema } from '../../../src/rules/schema.js'

const goodPath = new URL('../../fixtures/rules/good.yaml', import.meta.url)
const good = readFileSync(goodPath, 'utf8')
const env = { HK_USER: 'admin', HK_PASS: 's3cret', IMGSYNC_WEBHOOK_TOKEN: 'tok' }

function failure(fn: () => unknown): ImgsyncError {
  try {
    fn()
  } catch (err) {
    if (err instanceof ImgsyncError) return err
    throw err
  }
  throw new Error('expected an ImgsyncError')
}

describe('JSON Schema for editors', () => {
  // `npx vitest run -u` rewrites the file; CI fails while it is stale.
  it('matches the checked-in schema/imgsync.schema.json', async () => {
    await expect(`${JSON.stringify(ruleFileJsonSchema(), null, 2)}\n`).toMatchFileSnapshot(
      '../../../schema/imgsync.schema.json',
    )
  })

  it('describes the contract keys and rejects unknown ones', () => {
    const schema = ruleFileJsonSchema() as {
      properties: Record<string, unknown>
      additionalProperties: boolean
      required: string[]
    }
    expect(Object.keys(schema.properties)).toEqual(['version', 'registries', 'rules', 'serve'])
    expect(schema.additionalProperties).toBe(false)
    expect(schema.required).toEqual(['version'])
    const text = JSON.stringify(schema)
    for (const key of [
      'oci-layout',
      'plainHttp',
      'webhookToken',
      'repositories',
      'semver',
      'timezone',
      'referrers',
    ]) {
      expect(text).toContain(`"${key}"`)
    }
  })
})

describe('parseRuleFile', () => {
  it('reads the documented example with defaults applied', () => {
    const { config, doc, file } = parseRuleFile(good, 'good.yaml', env)
    expect(file).toBe('good.yaml')
    expect(doc.errors).toEqual([])
    expect(config.version).toBe(1)
    expect(config.registries.hk).toEqual({
      host: 'swr.ap-southeast-1.example.com',
      credentials: { username: 'admin', password: 's3cret' },
      tls: { ca: './ca.pem' },
      concurrency: 8,
    })
    expect(config.registries.local).toEqual({ 'oci-layout': { path: './layout' } })
    const [app, charts] = config.rules
    expect(app).toEqual({
      name: 'app-to-bj',
      description: 'release images to Beijing',
      enabled: true,
      source: {
        registry: 'hk',
        namespace: 'team-a',
        repositories: '^(app|sub/.*)$',
        tags: { include: '^v?\\d+\\.\\d+\\.\\d+$' },
        types: ['image', 'helm'],
      },
      target: { registry: 'bj', namespace: 'team-a' },
      override: false,
      referrers: true,
      platforms: ['linux/amd64'],
      prune: false,
      trigger: { type: 'schedule', cron: '0 1 * * *', timezone: 'Asia/Shanghai' },
    })
    expect(charts!.source.tags).toEqual({ include: '^v', exclude: '-rc', latest: 5, semver: '>=1.2 <2' })
    // target namespace defaults to the source namespace
    expect(charts!.target).toEqual({ registry: 'local', namespace: 'team-a/charts' })
    expect(charts!.trigger).toEqual({ type: 'auto' })
    expect(config.serve).toEqual({ webhookToken: 'tok' })
  })

  it('fills every default for a minimal rule', () => {
    const text =
      'version: 1\nregistries: { a: { host: a.example.com } }\nrules:\n  - { name: r, source: { registry: a }, target: { registry: a } }\n'
    const rule = parseRuleFile(text, 'x.yaml', {}).config.rules[0]!
    expect(rule).toEqual({
      name: 'r',
      enabled: true,
      source: { registry: 'a', namespace: '', types: ['image', 'helm', 'artifact'] },
      target: { registry: 'a', namespace: '' },
      override: false,
      referrers: true,
      prune: false,
      trigger: { type: 'manual' },
    })
  })

  it('accepts a file with only a version', () => {
    expect(parseRuleFile('version: 1\n', 'x.yaml', {}).config).toEqual({
      version: 1,
      registries: {},
      rules: [],
    })
  })

  it('accepts tls modes, mTLS, merge keys and a registry root namespace', () => {
    const text = `version: 1
registries:
  a: { host: "127.0.0.1:5000", tls: { plainHttp: true } }
  b: { host: "[::1]:5443", tls: { insecure: true, cert: c.pem, key: k.pem } }
x-defaults: &defaults
  source: { registry: a, namespace: "" }
`
    const err = failure(() => parseRuleFile(text, 'x.yaml', {}))
    expect(err.message).toContain('x-defaults: unknown key')
    const ok = `version: 1
registries:
  a: { host: "127.0.0.1:5000", tls: { plainHttp: true } }
  b: { host: "[::1]:5443", tls: { insecure: true, cert: c.pem, key: k.pem } }
rules:
  - &base { name: one, source: { registry: a }, target: { registry: b, namespace: mirror/x } }
  - { <<: *base, name: two }
`
    const { config } = parseRuleFile(ok, 'x.yaml', {})
    expect(config.rules.map((r) => r.name)).toEqual(['one', 'two'])
    expect(config.rules[1]!.target).toEqual({ registry: 'b', namespace: 'mirror/x' })
  })

  it('reports every problem: the first in the message, the others as suggestions', () => {
    const text =
      'version: 1\nregistries:\n  a: { host: a.example.com }\nrules:\n  - name: Bad Name\n    source: { registry: nope }\n    target: { registry: a }\n    enabled: maybe\n'
    const err = failure(() => parseRuleFile(text, 'imgsync.yaml', {}))
    expect(err.message).toMatch(/^imgsync\.yaml:5:11: rules\[0\]\.name: invalid rule name/)
    expect(err.message).toMatch(/\(and 1 more problem\)$/)
    expect(err.suggestions[0]).toBe(
      'imgsync.yaml:8:14: rules[0].enabled: expected true or false, got a string "maybe" (rule "Bad Name")',
    )
    expect(err.exitCode).toBe(2)
  })

  it('never echoes credentials', () => {
    const text =
      'version: 1\nregistries:\n  a:\n    host: a.example.com\n    credentials: { username: admin, password: 123456 }\n'
    const err = failure(() => parseRuleFile(text, 'x.yaml', {}))
    expect(err.message).toBe(
      'x.yaml:5:47: registries.a.credentials.password: expected a string, got a number',
    )
  })
})

describe('${ENV} interpolation', () => {
  const file = (value: string) =>
    `version: 1\nregistries:\n  a:\n    host: a.example.com\n    credentials: { username: "${value}", password: p }\n`
  const username = (value: string, e: NodeJS.ProcessEnv) =>
    parseRuleFile(file(value), 'x.yaml', e).config.registries.a!.credentials!.username

  it('replaces variables in string values, any number of times', () => {
    expect(username('${U}', { U: 'bob' })).toBe('bob')
    expect(username('${A}-${B}', { A: 'x', B: 'y' })).toBe('x-y')
    expect(username('pre${A}post', { A: '' })).toBe('prepost')
  })

  it('writes a literal ${ for $${', () => {
    expect(username('$${U}', { U: 'bob' })).toBe('${U}')
    expect(username('a$$b', {})).toBe('a$$b')
  })

  it('fails on an unset variable, naming the field and the variable', () => {
    const err = failure(() => parseRuleFile(file('${NOPE}'), 'x.yaml', {}))
    expect(err.code).toBe('CONFIG_INVALID')
    expect(err.message).toBe(
      'x.yaml:5:30: registries.a.credentials.username: environment variable NOPE is not set (referenced as ${NOPE})',
    )
  })

  it('fails on an unterminated reference', () => {
    expect(failure(() => parseRuleFile(file('${U'), 'x.yaml', { U: 'x' })).message).toContain(
      'unterminated ${',
    )
  })

  it('keeps the document raw: ${VAR} text stays for edits', () => {
    const loaded = parseRuleFile(file('${U}'), 'x.yaml', { U: 'bob' })
    expect(loaded.doc.getIn(['registries', 'a', 'credentials', 'username'])).toBe('${U}')
    expect(loaded.doc.toString()).toContain('"${U}"')
  })

  it('interpolates before validating: a variable can hold a host', () => {
    const text = 'version: 1\nregistries:\n  a: { host: "${HOST}" }\n'
    expect(parseRuleFile(text, 'x.yaml', { HOST: 'localhost:5000' }).config.registries.a!.host).toBe(
      'localhost:5000',
    )
    const err = failure(() => parseRuleFile(text, 'x.yaml', { HOST: 'https://x' }))
    expect(err.message).toContain('registries.a.host: invalid host "https://x"')
  })

  it('tolerates unset variables when asked (edits), skipping checks on those fields', () => {
    const text = 'version: 1\nregistries:\n  a: { host: "${HOST}" }\n'
    const { config } = parseRuleFile(text, 'x.yaml', {}, { allowUnsetEnv: true })
    expect(config.registries.a!.host).toBe('${HOST}')
  })
})

describe('the rule file path and loadRuleFile', () => {
  it('prefers the flag, then IMGSYNC_CONFIG, then ./imgsync.yaml', () => {
    expect(new Settings({ IMGSYNC_CONFIG: 'b.yaml' }).configPath('a.yaml')).toBe('a.yaml')
    expect(new Settings({ IMGSYNC_CONFIG: 'b.yaml' }).configPath()).toBe('b.yaml')
    expect(new Settings({}).configPath('')).toBe('imgsync.yaml')
  })

  it('says how to create the file when the default one is missing', async () => {
    const cwd = process.cwd()
    const dir = await mkdtemp(join(tmpdir(), 'imgsync-load-'))
    process.chdir(dir)
    try {
      const err = await loadRuleFile(new Settings({}).configPath(), {}).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(ImgsyncError)
      expect((err as ImgsyncError).code).toBe('CONFIG_INVALID')
      expect((err as ImgsyncError).message).toBe(
        'no rule file at ./imgsync.yaml; create one with `imgsync rule create` or pass --config',
      )
    } finally {
      process.chdir(cwd)
    }
  })

  it('names an explicit path that does not exist', async () => {
    const err = (await loadRuleFile('/nonexistent/rules.yaml', {}).catch((e: unknown) => e)) as ImgsyncError
    expect(err.code).toBe('CONFIG_INVALID')
    expect(err.message).toBe('no rule file at /nonexistent/rules.yaml; check --config or IMGSYNC_CONFIG')
  })

  it('loads and validates a file from disk', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'imgsync-load-'))
    const path = join(dir, 'rules.yaml')
    await writeFile(path, good)
    const loaded = await loadRuleFile(path, env)
    expect(loaded.file).toBe(path)
    expect(loaded.config.rules).toHaveLength(2)
    await writeFile(path, 'version: 3\n')
    await expect(loadRuleFile(path, env)).rejects.toThrow(
      `${path}:1:10: version: unsupported rule file version 3`,
    )
  })

  it('resolves paths in the file against its directory', () => {
    expect(resolveRuleFilePath('/etc/imgsync/imgsync.yaml', './ca.pem')).toBe('/etc/imgsync/ca.pem')
    expect(resolveRuleFilePath('/etc/imgsync/imgsync.yaml', '/abs/ca.pem')).toBe('/abs/ca.pem')
  })
})
