import { describe, expect, it } from 'vitest'
import { formatLocation, type Location, parseLocation } from '../../src/registry/location.js'
import { thrown } from '../support/rejection.js'

const D = `sha256:${'a'.repeat(64)}`

const fails = (text: string) => thrown(() => parseLocation(text), `${text} to be refused`)

describe('parseLocation: oci layouts', () => {
  it.each<[string, Location]>([
    ['oci:layout', { kind: 'oci', path: 'layout' }],
    ['oci:./layout', { kind: 'oci', path: './layout' }],
    ['oci:/srv/export', { kind: 'oci', path: '/srv/export' }],
    ['oci:/srv/export/', { kind: 'oci', path: '/srv/export/' }],
    ['oci:../a/b/c:v1.2.3', { kind: 'oci', path: '../a/b/c', tag: 'v1.2.3' }],
    ['oci:/srv/export:latest', { kind: 'oci', path: '/srv/export', tag: 'latest' }],
    [`oci:/srv/export@${D}`, { kind: 'oci', path: '/srv/export', digest: D }],
    [`oci:dir:v1@${D}`, { kind: 'oci', path: 'dir', tag: 'v1', digest: D }],
    // the part after the last ':' holds a '/': it belongs to the path
    ['oci:/mnt/a:b/dir', { kind: 'oci', path: '/mnt/a:b/dir' }],
    ['oci:/mnt/a:b/dir:tag', { kind: 'oci', path: '/mnt/a:b/dir', tag: 'tag' }],
    // an '@' that is not followed by alg: belongs to the path
    ['oci:./node_modules/@scope/img', { kind: 'oci', path: './node_modules/@scope/img' }],
    ['oci:./@scope/img:1', { kind: 'oci', path: './@scope/img', tag: '1' }],
    ['oci:my dir:v1', { kind: 'oci', path: 'my dir', tag: 'v1' }],
    ['  oci:dir:v1  ', { kind: 'oci', path: 'dir', tag: 'v1' }],
    [
      `oci:dir:sha256-${'b'.repeat(64)}.sig`,
      { kind: 'oci', path: 'dir', tag: `sha256-${'b'.repeat(64)}.sig` },
    ],
  ])('%s', (text, want) => {
    expect(parseLocation(text)).toEqual(want)
  })

  it.each([
    ['oci:', 'directory is missing'],
    ['oci::v1', 'directory is missing'],
    ['oci:dir:', 'tag after ":" is empty'],
    ['oci:dir:-bad', 'not a valid tag'],
    ['oci:dir:Bad Tag', 'not a valid tag'],
    [`oci:dir:${'x'.repeat(129)}`, 'not a valid tag'],
    ['oci:dir@sha256:abc', 'not a digest'],
    [`oci:dir@sha256:${'A'.repeat(64)}`, 'not a digest'],
    ['oci://srv/export', 'without //'],
  ])('refuses %s', (text, why) => {
    const err = fails(text)
    expect(err.code).toBe('INVALID_REFERENCE')
    expect(err.message).toContain(why)
    expect(err.message).toContain(JSON.stringify(text))
    expect(err.message).not.toContain('\n')
  })
})

describe('parseLocation: registries', () => {
  it('hands everything else to parseReference', () => {
    expect(parseLocation('127.0.0.1:5000/team/app:1.0')).toEqual({
      kind: 'registry',
      ref: { registry: '127.0.0.1:5000', repository: 'team/app', tag: '1.0', digest: undefined },
    })
    expect(parseLocation('alpine')).toEqual({
      kind: 'registry',
      ref: { registry: 'docker.io', repository: 'library/alpine', tag: undefined, digest: undefined },
    })
    // a repository named oci-something is not a layout
    expect(parseLocation('ocidir/app').kind).toBe('registry')
  })

  it('passes parseReference errors through', () => {
    const err = fails('https://example.com/app')
    expect(err.code).toBe('INVALID_REFERENCE')
  })
})

describe('formatLocation', () => {
  it.each(['oci:dir', 'oci:/a/b:v1', `oci:/a/b@${D}`, 'registry.example/app:1', `127.0.0.1:5000/a/b@${D}`])(
    'round-trips %s',
    (text) => {
      expect(formatLocation(parseLocation(text))).toBe(text)
    },
  )
})
