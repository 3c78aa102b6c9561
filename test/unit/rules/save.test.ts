// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the rule file syntax is literally ${VAR}
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { Document } from 'yaml'
import { ImgsyncError } from '../../../src/errors.js'
import { parseRuleFile, parseYamlDocument } from '../../../src/rules/load.js'
import { renderRuleDocument } from '../../../src/rules/render.js'
import {
  addRule,
  deleteRule,
  ensureRegistry,
  registryNameFor,
  setRuleEnabled,
  updateRule,
} from '../../../src/rules/save.js'

const original = readFileSync(new URL('../../fixtures/rules/good.yaml', import.meta.url), 'utf8')
const env = { HK_USER: 'u', HK_PASS: 'p', IMGSYNC_WEBHOOK_TOKEN: 't' }

/** Applies an edit the way editRuleFile does, and checks the result still validates. */
function edit(fn: (doc: Document) => void, text = original): string {
  const { doc } = parseYamlDocument(text, 'imgsync.yaml')
  fn(doc)
  const out = renderRuleDocument(doc, text)
  parseRuleFile(out, 'imgsync.yaml', env)
  return out
}

function lines(text: string, from: string, to?: string): string {
  const start = text.indexOf(from)
  const end = to === undefined ? text.length : text.indexOf(to, start)
  expect(start).toBeGreaterThanOrEqual(0)
  return text.slice(start, end)
}

const registriesBlock = lines(original, '# where images come from', 'rules:')
const appRule = lines(original, '  # release images, every night', '  # charts follow')
const chartsRule = lines(original, '  # charts follow', 'serve:')
const serveBlock = lines(original, 'serve:')
const comments = original.split('\n').filter((l) => l.includes('#'))

function diff(a: string, b: string): { removed: string[]; added: string[] } {
  const left = a.split('\n')
  const right = b.split('\n')
  return {
    removed: left.filter((l) => !right.includes(l)),
    added: right.filter((l) => !left.includes(l)),
  }
}

describe('edits keep comments and untouched text byte for byte', () => {
  it('an edit that changes nothing writes the same bytes', () => {
    expect(edit(() => {})).toBe(original)
    expect(edit((doc) => setRuleEnabled(doc, 'charts', true))).toBe(original)
  })

  it('setRuleEnabled(false) adds one line after the name, keeping aligned comments elsewhere', () => {
    const out = edit((doc) => setRuleEnabled(doc, 'charts', false))
    expect(diff(original, out)).toEqual({ removed: [], added: ['    enabled: false'] })
    expect(out).toContain('  - name: charts\n    enabled: false\n    source:')
    expect(out).toContain(appRule)
    for (const comment of comments) expect(out).toContain(comment)
  })

  it('setRuleEnabled on an existing value swaps the value and keeps the comment column', () => {
    const out = edit((doc) => setRuleEnabled(doc, 'app-to-bj', false))
    expect(diff(original, out)).toEqual({
      removed: ['    enabled: true                                 # default true'],
      added: ['    enabled: false                                # default true'],
    })
    const back = edit((doc) => setRuleEnabled(doc, 'app-to-bj', true), out)
    expect(back).toBe(original)
  })

  it('updateRule changes only the lines of the keys it sets', () => {
    const out = edit((doc) =>
      updateRule(doc, 'app-to-bj', {
        description: 'to Beijing, nightly',
        source: { namespace: 'team-b', tags: { include: '^v', latest: 3 } },
        trigger: { type: 'manual' },
      }),
    )
    expect(diff(original, out)).toEqual({
      removed: [
        '    description: release images to Beijing',
        '      namespace: team-a',
        '      tags: "^v?\\\\d+\\\\.\\\\d+\\\\.\\\\d+$"',
        '    trigger: { type: schedule, cron: "0 1 * * *", timezone: Asia/Shanghai }',
      ],
      added: [
        '    description: to Beijing, nightly',
        '      namespace: team-b',
        '      tags: { include: ^v, latest: 3 }',
        '    trigger: { type: manual }',
      ],
    })
    expect(out).toContain(registriesBlock)
    expect(out).toContain(chartsRule)
    expect(out).toContain(serveBlock)
    const rule = parseRuleFile(out, 'x', env).config.rules[0]!
    expect(rule.source.namespace).toBe('team-b')
    expect(rule.target.namespace).toBe('team-a')
    expect(rule.trigger).toEqual({ type: 'manual' })
  })

  it('updateRule with null removes keys, and can rename', () => {
    const out = edit((doc) =>
      updateRule(doc, 'app-to-bj', { name: 'app', platforms: null, source: { repositories: null } }),
    )
    const { removed, added } = diff(original, out)
    expect(removed).toEqual([
      '  - name: app-to-bj',
      '      repositories: "^(app|sub/.*)$"',
      '    platforms: [linux/amd64]',
    ])
    expect(added).toEqual(['  - name: app'])
    expect(out).toContain(chartsRule)
  })

  it('deleteRule removes the rule and its leading comment, nothing else', () => {
    const out = edit((doc) => deleteRule(doc, 'app-to-bj'))
    expect(out).toBe(original.replace(`${appRule}`, ''))
    const second = edit((doc) => deleteRule(doc, 'charts'))
    expect(second).toBe(original.replace(chartsRule, ''))
  })

  it('addRule appends in canonical key order and keeps every existing byte', () => {
    const out = edit((doc) =>
      addRule(doc, {
        trigger: { type: 'schedule', cron: '30 2 * * *', timezone: 'UTC' },
        target: { registry: 'bj' },
        source: { types: ['image'], namespace: 'team-c', registry: 'hk', tags: '^v' },
        name: 'team-c',
        description: undefined,
      }),
    )
    const before = original.slice(0, original.indexOf('serve:'))
    expect(out.startsWith(before.trimEnd())).toBe(true)
    expect(out).toContain(
      [
        '    trigger: { type: auto }',
        '',
        '  - name: team-c',
        '    source:',
        '      registry: hk',
        '      namespace: team-c',
        '      tags: ^v',
        '      types: [ image ]',
        '    target: { registry: bj }',
        '    trigger: { type: schedule, cron: "30 2 * * *", timezone: UTC }',
        '',
        'serve:',
      ].join('\n'),
    )
    expect(out.endsWith(serveBlock)).toBe(true)
  })

  it('ensureRegistry adds a host entry at the end of registries, inline', () => {
    let name = ''
    const out = edit((doc) => {
      name = ensureRegistry(doc, '127.0.0.1:5000')
    })
    expect(name).toBe('127-0-0-1-5000')
    expect(diff(original, out)).toEqual({
      removed: [],
      added: ['  127-0-0-1-5000: { host: 127.0.0.1:5000 }'],
    })
    expect(out).toContain(
      '  local: { oci-layout: { path: ./layout } }\n  127-0-0-1-5000: { host: 127.0.0.1:5000 }\n\nrules:',
    )
  })

  it('keeps a user-written flow list of rules inline', () => {
    const text =
      'version: 1\nregistries: { a: { host: a.io } }   # one\nrules: [ { name: x, source: { registry: a }, target: { registry: a } } ]\n'
    const out = edit(
      (doc) => addRule(doc, { name: 'y', source: { registry: 'a' }, target: { registry: 'a' } }),
      text,
    )
    expect(out.split('\n')[1]).toBe('registries: { a: { host: a.io } }   # one')
    expect(parseRuleFile(out, 'x', {}).config.rules.map((r) => r.name)).toEqual(['x', 'y'])
  })

  it('keeps ${VAR} references as text', () => {
    const out = edit((doc) => setRuleEnabled(doc, 'charts', false))
    expect(out).toContain('credentials: { username: "${HK_USER}", password: "${HK_PASS}" }')
    expect(out).toContain('webhookToken: "${IMGSYNC_WEBHOOK_TOKEN}"')
  })

  it('follows the file indentation for new content', () => {
    const text =
      'version: 1\nregistries:\n    a:\n        host: a.io\nrules:\n-   name: x\n    source: { registry: a }\n    target: { registry: a }\n'
    const out = edit(
      (doc) =>
        addRule(doc, { name: 'y', source: { registry: 'a', namespace: 'n' }, target: { registry: 'a' } }),
      text,
    )
    expect(out.startsWith(text)).toBe(true)
    expect(out.slice(text.length)).toBe(
      '- name: y\n  source:\n      registry: a\n      namespace: n\n  target: { registry: a }\n',
    )
  })
})

describe('edits on an empty or new document', () => {
  it('creates rules and registries where missing', () => {
    const text = 'version: 1\n'
    const out = edit((doc) => {
      const reg = ensureRegistry(doc, 'localhost:5000')
      addRule(doc, { name: 'a', source: { registry: reg }, target: { registry: reg, namespace: 'mirror' } })
    }, text)
    expect(out).toBe(
      'version: 1\nregistries:\n  localhost-5000: { host: localhost:5000 }\nrules:\n  - name: a\n    source:\n      registry: localhost-5000\n    target: { registry: localhost-5000, namespace: mirror }\n',
    )
  })

  it('turns empty inline collections into blocks', () => {
    const text = 'version: 1\nregistries: {}\nrules: []\n'
    const out = edit((doc) => {
      ensureRegistry(doc, 'r.example.com')
      addRule(doc, {
        name: 'a',
        source: { registry: 'r.example.com' },
        target: { registry: 'r.example.com' },
      })
    }, text)
    expect(out).toContain('registries:\n  r.example.com: { host: r.example.com }\nrules:\n  - name: a\n')
  })
})

describe('edit errors', () => {
  const code = (fn: () => void) => {
    try {
      fn()
    } catch (err) {
      return err instanceof ImgsyncError ? err.code : err
    }
    return 'no error'
  }
  const doc = () => parseYamlDocument(original, 'imgsync.yaml').doc

  it('RULE_NOT_FOUND for a missing rule, listing the existing ones', () => {
    expect(code(() => updateRule(doc(), 'nope', { enabled: false }))).toBe('RULE_NOT_FOUND')
    expect(code(() => setRuleEnabled(doc(), 'nope', false))).toBe('RULE_NOT_FOUND')
    expect(code(() => deleteRule(doc(), 'nope'))).toBe('RULE_NOT_FOUND')
    expect(() => deleteRule(doc(), 'nope')).toThrow(
      expect.objectContaining({ suggestions: ['rules in this file: app-to-bj, charts'] }),
    )
  })

  it('RULE_EXISTS for a duplicate create or a rename onto another rule', () => {
    const rule = { name: 'charts', source: { registry: 'hk' }, target: { registry: 'bj' } }
    expect(code(() => addRule(doc(), rule))).toBe('RULE_EXISTS')
    expect(code(() => updateRule(doc(), 'app-to-bj', { name: 'charts' }))).toBe('RULE_EXISTS')
    expect(code(() => updateRule(doc(), 'charts', { name: 'charts' }))).toBe('no error')
  })
})

describe('ensureRegistry', () => {
  const doc = () => parseYamlDocument(original, 'imgsync.yaml').doc

  it('returns an existing name, or the entry that already has the host', () => {
    expect(ensureRegistry(doc(), 'hk')).toBe('hk')
    expect(ensureRegistry(doc(), 'swr.cn-north-4.example.com')).toBe('bj')
    expect(ensureRegistry(doc(), 'SWR.CN-NORTH-4.example.com')).toBe('bj')
    expect(ensureRegistry(doc(), 'oci:./layout')).toBe('local')
  })

  it('adds new hosts and layouts under derived names, never clobbering', () => {
    const d = doc()
    expect(ensureRegistry(d, 'registry.example.com')).toBe('registry.example.com')
    expect(ensureRegistry(d, 'registry.example.com:5000')).toBe('registry-example-com-5000')
    expect(ensureRegistry(d, 'oci:/tmp/Air Gap')).toBe('oci-air-gap')
    expect(d.getIn(['registries', 'oci-air-gap', 'oci-layout', 'path'])).toBe('/tmp/Air Gap')
    d.setIn(['registries', 'localhost-5000'], d.createNode({ host: 'other.example.com' }))
    expect(ensureRegistry(d, 'localhost:5000')).toBe('localhost-5000-2')
  })

  it('rejects what is neither a name nor a host', () => {
    expect(() => ensureRegistry(doc(), 'nowhere')).toThrow(
      /unknown registry "nowhere": name one of hk, bj, local/,
    )
    expect(() => ensureRegistry(doc(), 'https://x.io')).toThrow(/without a scheme/)
    expect(() => ensureRegistry(doc(), 'nowhere')).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    )
  })

  it('registryNameFor', () => {
    expect(registryNameFor('127.0.0.1:5000')).toBe('127-0-0-1-5000')
    expect(registryNameFor('127.0.0.1')).toBe('127-0-0-1')
    expect(registryNameFor('localhost:5000')).toBe('localhost-5000')
    expect(registryNameFor('swr.cn-north-4.example.com')).toBe('swr.cn-north-4.example.com')
    expect(registryNameFor('[::1]:5000')).toBe('1-5000')
  })
})
