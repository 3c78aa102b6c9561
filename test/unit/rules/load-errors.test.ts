import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { ImgsyncError } from '../../../src/errors.js'
import { parseRuleFile } from '../../../src/rules/load.js'

// Every test/fixtures/rules/bad-*.yaml states on its first line what the error must say:
//   # expect: LINE FIELD | TEXT
// so adding a case is adding a file.
const dir = fileURLToPath(new URL('../../fixtures/rules/', import.meta.url))
const fixtures = readdirSync(dir)
  .filter((f) => f.startsWith('bad-') && f.endsWith('.yaml'))
  .sort()

const env = { HK_USER: 'admin', HK_PASS: 'secret' }

function loadError(text: string): ImgsyncError {
  try {
    parseRuleFile(text, 'imgsync.yaml', env)
  } catch (err) {
    if (err instanceof ImgsyncError) return err
    throw err
  }
  throw new Error('expected the rule file to be rejected')
}

describe('malformed rule files', () => {
  it('has a broad table of cases', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(24)
  })

  it.each(fixtures)('%s', (name) => {
    const text = readFileSync(join(dir, name), 'utf8')
    const expectation = /^# expect: (\d+) (\S+) \| (.+)$/.exec(text.split('\n')[0]!)
    expect(expectation, 'first line must be "# expect: LINE FIELD | TEXT"').not.toBeNull()
    const [, line, field, says] = expectation!
    const err = loadError(text)
    expect(err.code).toBe('CONFIG_INVALID')
    expect(err.message).not.toMatch(/[\r\n]/)
    expect(err.message).toMatch(new RegExp(`^imgsync\\.yaml:${line}:\\d+: `))
    expect(err.message).toContain(`: ${field}: `)
    expect(err.message).toContain(says)
  })
})
