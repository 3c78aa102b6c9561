import { describe, expect, it } from 'vitest'
import { parseDistributionEvents, parseHarborEvent } from '../../src/triggers/events.js'

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const digest = `sha256:${'c'.repeat(64)}`

function push(target: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    id: 'e1',
    action: 'push',
    target: { mediaType: MANIFEST, digest, repository: 'team/app', tag: 'v1', ...target },
    request: { host: '127.0.0.1:5000' },
    ...extra,
  }
}

describe('distribution push events', () => {
  it('a tag push of a manifest becomes a push', () => {
    const out = parseDistributionEvents({ events: [push({})] })
    expect(out).toEqual({
      pushes: [{ id: 'e1', host: '127.0.0.1:5000', repository: 'team/app', tag: 'v1', digest }],
      ignored: 0,
      invalid: 0,
    })
  })

  it('pulls, blob pushes and pushes by digest are ignored', () => {
    const out = parseDistributionEvents({
      events: [
        push({}, { action: 'pull' }),
        push({ mediaType: 'application/octet-stream' }),
        push({ tag: undefined }),
        'not an object',
        null,
      ],
    })
    expect(out).toMatchObject({ pushes: [], ignored: 5, invalid: 0 })
  })

  it('names outside the grammar are counted invalid and never become a push', () => {
    const out = parseDistributionEvents({
      events: [
        push({ repository: '../../v2/base' }),
        push({ repository: 'team-a/../../victim' }),
        push({ tag: 'v9/../latest' }),
        push({ tag: 'v7?x=1' }),
        push({ digest: `sha256:${'c'.repeat(64)}:/../x` }),
        push({ digest: 5 }),
      ],
    })
    expect(out).toMatchObject({ pushes: [], ignored: 0, invalid: 6 })
  })

  it('a host that is not host[:port] is not trusted', () => {
    const out = parseDistributionEvents({ events: [push({}, { request: { host: 'evil/x y' } })] })
    expect(out.pushes).toEqual([])
  })

  it('a payload that is not an envelope of events is refused', () => {
    expect(() => parseDistributionEvents({ events: { length: 1e9 } })).toThrow(/events/)
    expect(() => parseDistributionEvents(null)).toThrow()
    expect(() => parseDistributionEvents({ events: new Array(10_001).fill(push({})) })).toThrow(/more than/)
  })
})

describe('Harbor push events', () => {
  const harbor = (resources: unknown, type = 'PUSH_ARTIFACT') => ({
    type,
    occur_at: 1,
    event_data: {
      resources,
      repository: { namespace: 'team', name: 'app', repo_full_name: 'team/app' },
    },
  })

  it('a PUSH_ARTIFACT resource becomes a push', () => {
    const out = parseHarborEvent(harbor([{ digest, tag: 'v1', resource_url: 'harbor.example/team/app:v1' }]))
    expect(out.pushes).toEqual([
      {
        id: `harbor:harbor.example/team/app:v1@${digest}:1`,
        host: 'harbor.example',
        repository: 'team/app',
        tag: 'v1',
        digest,
      },
    ])
  })

  it('counts come from a real array only: an object with a huge length is refused', () => {
    expect(() => parseHarborEvent(harbor({ length: 1_000_000_000 }))).toThrow(/resources/)
    expect(() => parseHarborEvent(harbor({ length: 1_000_000_000 }, 'DELETE_ARTIFACT'))).toThrow(/resources/)
    expect(parseHarborEvent(harbor([], 'DELETE_ARTIFACT')).ignored).toBe(1)
  })

  it('invalid names are counted, not pushed', () => {
    const out = parseHarborEvent(harbor([{ digest, tag: '../x', resource_url: 'harbor.example/team/app:x' }]))
    expect(out).toMatchObject({ pushes: [], invalid: 1 })
  })
})
