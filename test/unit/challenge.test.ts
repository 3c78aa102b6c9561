import { describe, expect, it } from 'vitest'
import { parseChallenges, pickChallenge } from '../../src/registry/challenge.js'

describe('parseChallenges', () => {
  it('returns nothing for no header', () => {
    expect(parseChallenges(undefined)).toEqual([])
    expect(parseChallenges('')).toEqual([])
    expect(parseChallenges([])).toEqual([])
  })

  it('parses a Bearer challenge whose quoted scope holds commas and colons', () => {
    const h =
      'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:team/app:pull,push"'
    expect(parseChallenges(h)).toEqual([
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.example.com/token',
          service: 'registry.example.com',
          scope: 'repository:team/app:pull,push',
        },
      },
    ])
  })

  it('keeps several scopes separated by spaces inside quotes', () => {
    const [c] = parseChallenges('Bearer realm="r",scope="repository:a:pull repository:b:pull,push"')
    expect(c?.params.scope).toBe('repository:a:pull repository:b:pull,push')
  })

  it('parses a Basic realm', () => {
    expect(parseChallenges('Basic realm="Registry Realm"')).toEqual([
      { scheme: 'basic', params: { realm: 'Registry Realm' } },
    ])
  })

  it('parses several challenges in one header, in order', () => {
    const h =
      'Basic realm="basic realm, with comma", Bearer realm="https://a.example/token",service="reg",scope="x:y:pull,push"'
    const got = parseChallenges(h)
    expect(got.map((c) => c.scheme)).toEqual(['basic', 'bearer'])
    expect(got[0]!.params).toEqual({ realm: 'basic realm, with comma' })
    expect(got[1]!.params).toEqual({
      realm: 'https://a.example/token',
      service: 'reg',
      scope: 'x:y:pull,push',
    })
  })

  it('parses challenges across several header values', () => {
    const got = parseChallenges(['Basic realm="one"', 'Bearer realm="https://t.example/token",service="two"'])
    expect(got).toEqual([
      { scheme: 'basic', params: { realm: 'one' } },
      { scheme: 'bearer', params: { realm: 'https://t.example/token', service: 'two' } },
    ])
  })

  it('accepts unquoted values and spaces around = and ,', () => {
    const got = parseChallenges(
      'Bearer realm=https://auth.example/token , service = registry.example ,scope=a:b:pull',
    )
    expect(got).toEqual([
      {
        scheme: 'bearer',
        params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'a:b:pull' },
      },
    ])
  })

  it('unescapes backslash-escaped quotes and backslashes in quoted values', () => {
    const got = parseChallenges(
      'Bearer realm="say \\"hi\\"",service="back\\\\slash",error="insufficient_scope"',
    )
    expect(got[0]!.params).toEqual({ realm: 'say "hi"', service: 'back\\slash', error: 'insufficient_scope' })
  })

  it('lower-cases scheme and parameter names but not values', () => {
    const got = parseChallenges('BEARER Realm="https://A.example/Token",SERVICE="Reg"')
    expect(got).toEqual([{ scheme: 'bearer', params: { realm: 'https://A.example/Token', service: 'Reg' } }])
  })

  it('takes a scheme without parameters', () => {
    expect(parseChallenges('Negotiate, Basic realm="x"').map((c) => c.scheme)).toEqual(['negotiate', 'basic'])
  })

  it('keeps empty quoted values', () => {
    expect(parseChallenges('Bearer realm="",service="s"')[0]!.params).toEqual({ realm: '', service: 's' })
  })
})

describe('pickChallenge', () => {
  it('prefers bearer over basic, whatever the order', () => {
    expect(pickChallenge(parseChallenges('Basic realm="b", Bearer realm="t"'))?.scheme).toBe('bearer')
    expect(pickChallenge(parseChallenges(['Bearer realm="t"', 'Basic realm="b"']))?.params.realm).toBe('t')
  })

  it('falls back to basic, and to nothing for unknown schemes', () => {
    expect(pickChallenge(parseChallenges('Negotiate, Basic realm="b"'))).toEqual({
      scheme: 'basic',
      params: { realm: 'b' },
    })
    expect(pickChallenge(parseChallenges('Negotiate, Digest realm="d"'))).toBeUndefined()
    expect(pickChallenge([])).toBeUndefined()
  })
})
