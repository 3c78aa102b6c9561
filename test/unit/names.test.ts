import { describe, expect, it } from 'vitest'
import { ImgsyncError } from '../../src/errors.js'
import { digestMatches } from '../../src/registry/digest.js'
import {
  blobPath,
  checkDigest,
  isValidDigest,
  isValidRepository,
  isValidTag,
  manifestPath,
  quoteName,
  repositoryPath,
} from '../../src/registry/names.js'
import { printable } from '../../src/text.js'

/** Whether any C0/C1 control character (newline included) is in `s`. */
const hasControl = (s: string) =>
  [...s].some((c) => c.charCodeAt(0) < 0x20 || (c.charCodeAt(0) >= 0x7f && c.charCodeAt(0) <= 0x9f))

const hex = 'a'.repeat(64)

function code(fn: () => unknown): string | undefined {
  try {
    fn()
    return undefined
  } catch (err) {
    return err instanceof ImgsyncError ? err.code : 'not an ImgsyncError'
  }
}

describe('names from a registry', () => {
  it('tags: the distribution grammar, nothing that could steer a URL', () => {
    for (const ok of ['latest', 'v1.2.3', '_x', 'A-b_c.d', 'x'.repeat(128)])
      expect(isValidTag(ok), ok).toBe(true)
    for (const bad of [
      '../../victim/manifests/latest',
      'v9/../latest',
      'v8#',
      'v7?x=1',
      '.hidden',
      '-dash',
      '',
      'x'.repeat(129),
      'a b',
      'a\nb',
      'tag%2F',
      5,
      null,
    ])
      expect(isValidTag(bad), String(bad)).toBe(false)
  })

  it('digests: a registered algorithm and exactly its hex length, lowercase', () => {
    expect(isValidDigest(`sha256:${hex}`)).toBe(true)
    expect(isValidDigest(`sha512:${'b'.repeat(128)}`)).toBe(true)
    for (const bad of [
      `sha256:${hex}:/../../../victim/manifests/childpwn`,
      'childtag',
      'v1',
      `SHA256:${hex}`,
      'sha256:',
      `sha256:${hex.slice(1)}`,
      `sha256:${'A'.repeat(64)}`,
      `md5:${'a'.repeat(32)}`,
      `sha512:${hex}`,
    ])
      expect(isValidDigest(bad), bad).toBe(false)
  })

  it('repositories: lowercase components joined by /, no empty, dot or dot-dot segments', () => {
    for (const ok of ['app', 'team-a/app', 'a/b/c', 'a__b', 'a.b', 'a--b'])
      expect(isValidRepository(ok), ok).toBe(true)
    for (const bad of [
      'team-a/../../victim2',
      '../../v2/base',
      'a//b',
      '/a',
      'a/',
      'A',
      '.',
      'a/./b',
      '',
      'a'.repeat(256),
    ])
      expect(isValidRepository(bad), bad).toBe(false)
  })

  it('paths are built only from valid names, each segment encoded', () => {
    expect(manifestPath('team/app', 'v1', 'x')).toBe('/v2/team/app/manifests/v1')
    expect(manifestPath('team/app', `sha256:${hex}`, 'x')).toBe(`/v2/team/app/manifests/sha256:${hex}`)
    expect(blobPath('app', `sha256:${hex}`, 'x')).toBe(`/v2/app/blobs/sha256:${hex}`)
    expect(repositoryPath('a/b', 'x')).toBe('/v2/a/b')
    expect(code(() => manifestPath('mirror', '../../victim/manifests/latest', 'h'))).toBe('INVALID_REFERENCE')
    expect(code(() => manifestPath('mirror', `sha256:${hex}:/../x`, 'h'))).toBe('INVALID_REFERENCE')
    expect(code(() => manifestPath('team-a/../../victim2', 'v1', 'h'))).toBe('INVALID_REFERENCE')
    expect(code(() => blobPath('app', `SHA256:${hex}`, 'h'))).toBe('INVALID_REFERENCE')
    expect(code(() => checkDigest('sha256:', 'h'))).toBe('INVALID_REFERENCE')
  })

  it('a digest check never accepts a malformed digest, even one that starts right', () => {
    const bytes = Buffer.from('{}')
    const good = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a'
    expect(digestMatches(bytes, good)).toBe(true)
    expect(digestMatches(bytes, `${good}:/../../victim`)).toBe(false)
    expect(digestMatches(bytes, good.toUpperCase())).toBe(false)
  })
})

describe('untrusted text', () => {
  it('printable() leaves no control character, so no forged line or escape sequence', () => {
    const hostile = 'oops\u001b[31mred\u001b[0m\nimgsync: error NOT_FOUND: forged\r\u0007\u009b'
    const out = printable(hostile)
    expect(hasControl(out)).toBe(false)
    expect(out).toContain('imgsync: error NOT_FOUND: forged')
    expect(out.split('\n')).toHaveLength(1)
  })

  it('an ImgsyncError message is one printable line whatever a registry put into it', () => {
    const e = new ImgsyncError('REGISTRY_ERROR', 'registry says: \u001b[2J\nimgsync: error X: y', {
      suggestions: ['a\nb'],
    })
    expect(hasControl(e.message)).toBe(false)
    expect(e.suggestions[0]).toBe('a b')
  })

  it('quoteName escapes what it shows and cuts long names', () => {
    expect(quoteName('a\u001bb')).toBe('"a\\u001bb"')
    expect(quoteName('x'.repeat(500)).length).toBeLessThan(220)
  })
})
