import { describe, expect, it } from 'vitest'
import { ImgsyncError } from '../../src/errors.js'
import {
  apiHost,
  formatReference,
  isLoopbackHost,
  parseImageReference,
  parseReference,
  parseRepositoryReference,
} from '../../src/registry/reference.js'
import { thrown } from '../support/rejection.js'

const D = `sha256:${'a'.repeat(64)}`

const invalid = (input: string) =>
  thrown(() => parseReference(input), `${JSON.stringify(input)} to be rejected`)

describe('parseImageReference: docker conventions', () => {
  it.each([
    ['ubuntu', { registry: 'docker.io', repository: 'library/ubuntu', tag: 'latest' }],
    ['ubuntu:22.04', { registry: 'docker.io', repository: 'library/ubuntu', tag: '22.04' }],
    ['bitnami/redis', { registry: 'docker.io', repository: 'bitnami/redis', tag: 'latest' }],
    ['docker.io/x/y', { registry: 'docker.io', repository: 'x/y', tag: 'latest' }],
    ['docker.io/ubuntu', { registry: 'docker.io', repository: 'library/ubuntu', tag: 'latest' }],
    ['index.docker.io/x/y:1', { registry: 'docker.io', repository: 'x/y', tag: '1' }],
    ['index.docker.io/ubuntu', { registry: 'docker.io', repository: 'library/ubuntu', tag: 'latest' }],
    [
      'registry-1.docker.io/nginx:stable',
      { registry: 'docker.io', repository: 'library/nginx', tag: 'stable' },
    ],
    ['localhost:5000/a/b:c', { registry: 'localhost:5000', repository: 'a/b', tag: 'c' }],
    ['localhost/a', { registry: 'localhost', repository: 'a', tag: 'latest' }],
    ['[::1]:5000/a', { registry: '[::1]:5000', repository: 'a', tag: 'latest' }],
    [
      '127.0.0.1:5000/team-a/sub/deep/svc:1.0',
      { registry: '127.0.0.1:5000', repository: 'team-a/sub/deep/svc', tag: '1.0' },
    ],
    [
      'ghcr.io/org/app_x__y.z-w:v1.2.3-rc.1_b',
      { registry: 'ghcr.io', repository: 'org/app_x__y.z-w', tag: 'v1.2.3-rc.1_b' },
    ],
    ['  ghcr.io/org/app:1  ', { registry: 'ghcr.io', repository: 'org/app', tag: '1' }],
  ])('%s', (input, want) => {
    expect(parseImageReference(input)).toEqual({ digest: undefined, ...want })
  })

  it('keeps a digest and adds no tag', () => {
    expect(parseImageReference(`quay.io/a/b@${D}`)).toEqual({
      registry: 'quay.io',
      repository: 'a/b',
      tag: undefined,
      digest: D,
    })
    expect(parseImageReference(`ubuntu@${D}`)).toMatchObject({ repository: 'library/ubuntu', digest: D })
    expect(parseImageReference(`ubuntu@${D}`).tag).toBeUndefined()
  })

  it('keeps tag and digest together', () => {
    expect(parseImageReference(`localhost:5000/a/b:1.0@${D}`)).toEqual({
      registry: 'localhost:5000',
      repository: 'a/b',
      tag: '1.0',
      digest: D,
    })
  })

  it('accepts sha512 digests', () => {
    const d = `sha512:${'0'.repeat(128)}`
    expect(parseReference(`x.io/a@${d}`).digest).toBe(d)
  })

  it('parseReference leaves a bare repository without a tag; parseImageReference means latest', () => {
    expect(parseReference('ghcr.io/a/b').tag).toBeUndefined()
    expect(parseImageReference('ghcr.io/a/b').tag).toBe('latest')
  })

  it('parseRepositoryReference refuses a tag or digest', () => {
    expect(parseRepositoryReference('ghcr.io/a/b')).toMatchObject({ registry: 'ghcr.io', repository: 'a/b' })
    expect(() => parseRepositoryReference('ghcr.io/a/b:1')).toThrow(/without :tag or @digest/)
    expect(() => parseRepositoryReference(`ghcr.io/a/b@${D}`)).toThrow(ImgsyncError)
  })

  it('formatReference round-trips', () => {
    for (const s of ['docker.io/library/ubuntu:latest', `localhost:5000/a/b:c@${D}`, `[::1]:5000/a@${D}`]) {
      expect(formatReference(parseReference(s))).toBe(s)
    }
  })
})

describe('parseReference: docker:// (skopeo, crane)', () => {
  it('is the same reference without it', () => {
    for (const text of ['ubuntu', '127.0.0.1:5000/team/app:1.2', `ghcr.io/o/r@sha256:${'a'.repeat(64)}`])
      expect(parseReference(`docker://${text}`)).toEqual(parseReference(text))
    expect(parseReference('DOCKER://localhost:5000/x')).toEqual(parseReference('localhost:5000/x'))
  })
})

describe('parseReference: invalid input', () => {
  const cases: [string, string, RegExp][] = [
    ['empty', '', /empty/],
    ['blank', '   ', /empty/],
    ['uppercase repository', 'docker.io/Library/Ubuntu', /lowercase/],
    ['uppercase one-segment name', 'Ubuntu', /lowercase/],
    ['space inside', 'ubuntu latest', /white space/],
    ['http scheme', 'http://localhost:5000/a', /scheme/],
    ['https scheme', 'https://registry.example.com/a', /scheme/],
    ['docker scheme with nothing after it', 'docker://', /empty/],
    ['short digest', 'ubuntu@sha256:abc', /not a digest/],
    ['uppercase digest hex', `ubuntu@sha256:${'A'.repeat(64)}`, /not a digest/],
    ['unknown digest algorithm', `ubuntu@md5:${'a'.repeat(32)}`, /not a digest/],
    ['empty digest', 'ubuntu@', /not a digest/],
    ['tag too long', `ubuntu:${'a'.repeat(129)}`, /not a valid tag/],
    ['tag starting with a dot', 'ubuntu:.x', /not a valid tag/],
    ['empty tag', 'ubuntu:', /not a valid tag/],
    ['empty path segment', 'a//b', /empty path segment/],
    ['port out of range', 'localhost:99999/a', /port 99999 is out of range/],
    ['port zero', 'localhost:0/a', /out of range/],
    ['bad host', 'bad_host.io/a', /host/],
    ['trailing slash', 'ghcr.io/a/', /empty path segment/],
    ['tag only', ':tag', /repository is missing/],
    ['host only', 'ghcr.io/', /repository is missing/],
    ['separator at the end', 'ghcr.io/a-', /lowercase/],
    ['triple underscore', 'ghcr.io/a___b', /lowercase/],
    ['two colons', 'ghcr.io/a:b:c', /lowercase/],
    ['name too long', `ghcr.io/${'a'.repeat(250)}`, /longer than 255/],
  ]

  it.each(cases)('%s: %j', (_name, input, why) => {
    const err = invalid(input)
    expect(err.code).toBe('INVALID_REFERENCE')
    expect(err.message).toMatch(why)
    expect(err.message).not.toMatch(/\n/)
    expect(err.message.startsWith('invalid reference ')).toBe(true)
    expect(err.suggestions.length).toBeGreaterThan(0)
    expect(err.exitCode).toBe(2)
  })

  it('also rejects through parseImageReference', () => {
    expect(() => parseImageReference('UPPER/case')).toThrow(ImgsyncError)
  })

  // BUG (src/registry/reference.ts invalid()): the raw input is embedded in the message, so an input
  // holding a newline (pasted from a file) yields a two-line message. Quote it with JSON.stringify.
  it('keeps the message on one line when the input holds a newline', () => {
    for (const input of ['ubuntu\nlatest', 'a/b\r\n:c']) {
      const err = invalid(input)
      expect(err.code).toBe('INVALID_REFERENCE')
      expect(err.message).not.toMatch(/[\r\n]/)
    }
  })
})

describe('apiHost', () => {
  it('maps docker.io to the API host and leaves others alone', () => {
    expect(apiHost('docker.io')).toBe('registry-1.docker.io')
    expect(apiHost(parseImageReference('ubuntu').registry)).toBe('registry-1.docker.io')
    expect(apiHost('ghcr.io')).toBe('ghcr.io')
    expect(apiHost('localhost:5000')).toBe('localhost:5000')
  })
})

describe('isLoopbackHost', () => {
  it.each([
    'localhost',
    'localhost:5000',
    '127.0.0.1',
    '127.0.0.1:5000',
    '127.1.2.3:80',
    '[::1]',
    '[::1]:5000',
  ])('%s is loopback', (h) => expect(isLoopbackHost(h)).toBe(true))
  it.each([
    'ghcr.io',
    '10.0.0.1:5000',
    'localhost.example.com',
    '127.0.0.1.nip.io',
    'my-localhost:5000',
    '[::2]:5000',
    '128.0.0.1',
  ])('%s is not loopback', (h) => expect(isLoopbackHost(h)).toBe(false))
})
