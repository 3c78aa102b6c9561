import { ImgsyncError } from '../errors.js'
import { isValidComponent, isValidDigest, isValidTag } from './names.js'

/** A parsed image reference. `registry` is as the user means it (docker.io, host:port); no I/O here. */
export interface Reference {
  registry: string
  repository: string
  tag?: string
  digest?: string
}

export const DOCKER_HUB = 'docker.io'
const DOCKER_HUB_API = 'registry-1.docker.io'
const HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io'])

const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/
const MAX_NAME = 255
const DOCKER_SCHEME = /^docker:\/\//i

function invalid(input: string, why: string): ImgsyncError {
  return new ImgsyncError('INVALID_REFERENCE', `invalid reference ${JSON.stringify(input)}: ${why}`, {
    suggestions: ['write it as host[:port]/repository[:tag] or host/repository@sha256:<64 hex>'],
  })
}

function looksLikeHost(part: string): boolean {
  return part.includes('.') || part.includes(':') || part === 'localhost' || part.startsWith('[')
}

/**
 * Parses `[docker://][host[:port]/]repo[/more][:tag][@digest]` with docker's defaults: no host means
 * docker.io, and a one-segment Hub name gets `library/`.
 */
export function parseReference(input: string): Reference {
  // docker:// is how skopeo and crane users write a registry reference: the same thing
  const text = input.trim().replace(DOCKER_SCHEME, '')
  if (text === '') throw invalid(input, 'it is empty')
  if (/\s/.test(text)) throw invalid(input, 'it contains white space')
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    throw invalid(input, 'leave out the scheme (http://, https://); docker:// is the only one accepted')
  }

  let rest = text
  let digest: string | undefined
  const at = rest.indexOf('@')
  if (at >= 0) {
    digest = rest.slice(at + 1)
    rest = rest.slice(0, at)
    if (!isValidDigest(digest))
      throw invalid(input, `"${digest}" is not a digest (sha256:<64 lowercase hex>)`)
  }

  const slash = rest.indexOf('/')
  let registry = DOCKER_HUB
  if (slash >= 0 && looksLikeHost(rest.slice(0, slash))) {
    registry = rest.slice(0, slash)
    rest = rest.slice(slash + 1)
    if (!HOST.test(registry)) throw invalid(input, `"${registry}" is not a valid host[:port]`)
    const port = registry.match(/:(\d+)$/)?.[1]
    if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
      throw invalid(input, `port ${port} is out of range`)
    }
  }

  let tag: string | undefined
  const colon = rest.lastIndexOf(':')
  if (colon >= 0) {
    tag = rest.slice(colon + 1)
    rest = rest.slice(0, colon)
    if (!isValidTag(tag)) {
      throw invalid(
        input,
        `"${tag}" is not a valid tag (letters, digits, _ . -; at most 128; not starting with . or -)`,
      )
    }
  }

  if (rest === '') throw invalid(input, 'the repository is missing')
  const components = rest.split('/')
  for (const c of components) {
    if (!isValidComponent(c)) {
      throw invalid(
        input,
        c === ''
          ? 'the repository has an empty path segment'
          : `repository segment "${c}" must be lowercase letters and digits, separated by . _ __ or -`,
      )
    }
  }
  if (HUB_ALIASES.has(registry)) {
    registry = DOCKER_HUB
    if (components.length === 1) rest = `library/${rest}`
  }
  if (registry.length + 1 + rest.length > MAX_NAME)
    throw invalid(input, `the name is longer than ${MAX_NAME}`)
  return { registry, repository: rest, tag, digest }
}

/** A reference that must name one image: a tag or a digest (a bare repository means `latest`). */
export function parseImageReference(input: string): Reference {
  const ref = parseReference(input)
  if (ref.tag === undefined && ref.digest === undefined) ref.tag = 'latest'
  return ref
}

/** A reference that names a repository only. */
export function parseRepositoryReference(input: string): Reference {
  const ref = parseReference(input)
  if (ref.tag !== undefined || ref.digest !== undefined) {
    throw invalid(input, 'expected a repository without :tag or @digest')
  }
  return ref
}

export function formatReference(ref: Reference): string {
  let out = `${ref.registry}/${ref.repository}`
  if (ref.tag !== undefined) out += `:${ref.tag}`
  if (ref.digest !== undefined) out += `@${ref.digest}`
  return out
}

/** The host that serves the API for a registry name (Docker Hub's differs from its name). */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry
}

/** Loopback hosts default to plain HTTP (like docker's insecure-registry default for localhost). */
export function isLoopbackHost(host: string): boolean {
  const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '')
  return name === 'localhost' || name === '::1' || /^127\.\d+\.\d+\.\d+$/.test(name)
}
