import { afterEach, describe, expect, it } from 'vitest'
import { log, redact, registerSecret, setLogLevel, setLogSink, warnOnce } from '../../src/log.js'

afterEach(() => {
  setLogLevel('warn')
  setLogSink((line) => process.stderr.write(`${line}\n`))
})

describe('redact', () => {
  it('masks every occurrence of a registered secret', () => {
    registerSecret('p@ss.w0rd*(x)')
    expect(redact('login with p@ss.w0rd*(x) failed; retry p@ss.w0rd*(x)')).toBe(
      'login with <redacted> failed; retry <redacted>',
    )
  })

  it('ignores secrets shorter than 4 characters and undefined', () => {
    registerSecret('abc')
    registerSecret(undefined)
    registerSecret('')
    expect(redact('abc cab')).toBe('abc cab')
  })

  it('leaves text without secrets alone', () => {
    const s = 'GET https://reg.example/v2/app/manifests/1.0 → 200 (sha256:abcd)'
    expect(redact(s)).toBe(s)
  })

  it.each([
    ['Authorization: Basic dXNlcjpwYXNzd29yZA==', 'Authorization: Basic <redacted>'],
    ['authorization: Bearer eyJhbGciOi.eyJzdWIi.sig-_x', 'authorization: Bearer <redacted>'],
    ['headers authorization:bearer abc123 sent', 'headers authorization:bearer <redacted> sent'],
    ['Authorization: "Basic dXNlcjpwYXNz", next', 'Authorization: "Basic <redacted>", next'],
    ['AUTHORIZATION BASIC Zm9vOmJhcg==', 'AUTHORIZATION BASIC <redacted>'],
  ])('masks the Authorization value in %j', (input, want) => {
    expect(redact(input)).toBe(want)
  })

  // BUG (src/log.ts redact): the Authorization pattern expects `authorization:` or `authorization "`, so a
  // header object serialised as JSON ("authorization":"Basic …") is not masked. RecordWriter relies on
  // redact(JSON.stringify(record)) as its last guard, so such a value would reach the records file.
  // Fix: allow an optional closing quote before the colon: /(authorization"?\s*:?\s*"?)(basic|bearer)\s+…/gi
  it.each([
    ['{"authorization":"Basic dXNlcjpwYXNz"}', 'dXNlcjpwYXNz'],
    ['{"headers":{"Authorization": "Bearer eyJabc.def"}}', 'eyJabc.def'],
  ])('masks the Authorization value in JSON %j', (input, secret) => {
    const out = redact(input)
    expect(out).not.toContain(secret)
    expect(out).toContain('<redacted>')
  })

  it.each([
    ['https://user:s3cret@reg.example/v2/', 'https://<redacted>@reg.example/v2/'],
    ['pull from http://robot$ci:tok-en@127.0.0.1:5000/a', 'pull from http://<redacted>@127.0.0.1:5000/a'],
    ['a https://u:p@h1/x and https://v:q@h2/y', 'a https://<redacted>@h1/x and https://<redacted>@h2/y'],
  ])('masks URL userinfo in %j', (input, want) => {
    expect(redact(input)).toBe(want)
  })

  it.each([
    [
      'https://auth.example/token?service=reg&token=abc.def&scope=repository:a:pull',
      'https://auth.example/token?service=reg&token=<redacted>&scope=repository:a:pull',
    ],
    ['https://x/cb?access_token=zzz', 'https://x/cb?access_token=<redacted>'],
    ['https://x/cb?a=1&refresh_token=rrr&b=2', 'https://x/cb?a=1&refresh_token=<redacted>&b=2'],
    ['https://x/login?user=a&password=hunter2', 'https://x/login?user=a&password=<redacted>'],
    ['https://x/?TOKEN=up', 'https://x/?TOKEN=<redacted>'],
  ])('masks token query parameters in %j', (input, want) => {
    expect(redact(input)).toBe(want)
  })

  it('keeps query parameters that only look similar', () => {
    expect(redact('https://x/?tokens=1&service=token')).toBe('https://x/?tokens=1&service=token')
  })
})

describe('log', () => {
  function capture() {
    const lines: string[] = []
    setLogSink((l) => lines.push(l))
    return lines
  }

  it('redacts what it prints and prefixes levels other than info', () => {
    const lines = capture()
    registerSecret('log-secret-value')
    setLogLevel('debug')
    log.debug('token log-secret-value for https://u:pw@reg.example/v2/')
    log.info('plain')
    log.warn('careful')
    log.error('broken')
    expect(lines).toEqual([
      'debug: token <redacted> for https://<redacted>@reg.example/v2/',
      'plain',
      'warn: careful',
      'error: broken',
    ])
  })

  it('drops messages below the level', () => {
    const lines = capture()
    setLogLevel('error')
    log.warn('no')
    log.info('no')
    log.debug('no')
    log.error('yes')
    expect(lines).toEqual(['error: yes'])
    expect(log.enabled('error')).toBe(true)
    expect(log.enabled('warn')).toBe(false)
    setLogLevel('debug')
    expect(log.enabled('debug')).toBe(true)
  })

  it('warnOnce warns once per distinct message', () => {
    const lines = capture()
    warnOnce('unique warning A')
    warnOnce('unique warning A')
    warnOnce('unique warning B')
    expect(lines).toEqual(['warn: unique warning A', 'warn: unique warning B'])
  })
})
