// How an ad-hoc sync (`sync tag`, `sync repo`) reaches each side: a layout directory, or a registry
// with credentials from --SIDE-creds-file, else IMGSYNC_SIDE_USERNAME/PASSWORD, else the docker
// config (--authfile), else anonymous; TLS from --SIDE-ca / --SIDE-insecure / --SIDE-plain-http.
import { accessSync, constants } from 'node:fs'
import { ImgsyncError } from '../errors.js'
import type { TlsOptions } from '../registry/agents.js'
import { readCredentialsFile } from '../registry/credentials.js'
import type { Location } from '../registry/location.js'
import type { EndpointConfig } from '../sync/registries.js'
import type { AuthHelp } from '../sync/watched-registry.js'
import type { EndpointFlagValues } from './flags.js'
import type { Settings } from './settings.js'

export function adhocEndpoint(
  side: 'src' | 'dst',
  location: Location,
  flags: EndpointFlagValues,
  settings: Settings,
): EndpointConfig {
  if (location.kind === 'oci') return { kind: 'layout', path: location.path, mode: 'single' }
  const credsFile = flags[`${side}-creds-file`]
  const credentials = credsFile
    ? readCredentialsFile(credsFile, `--${side}-creds-file`)
    : settings.credentials(side)
  const ca = flags[`${side}-ca`]
  if (ca) {
    try {
      accessSync(ca, constants.R_OK)
    } catch {
      throw new ImgsyncError('INVALID_ARGUMENT', `--${side}-ca: cannot read ${ca}`)
    }
  }
  const tls: TlsOptions = {
    ...(ca && { ca }),
    ...(flags[`${side}-insecure`] && { insecure: true }),
    ...(flags[`${side}-plain-http`] && { plainHttp: true }),
  }
  return {
    kind: 'registry',
    host: location.ref.registry,
    credentials,
    ...(flags.authfile && { dockerConfig: flags.authfile, dockerConfigRequired: true }),
    ...(Object.keys(tls).length > 0 && { tls }),
    authHelp: authHelp(side, location.ref.registry, flags, settings),
  }
}

/**
 * What an AUTH_FAILED on this side says to check: where this side's credentials came from, and the
 * options of this side only (the other side's are no help).
 */
function authHelp(
  side: 'src' | 'dst',
  host: string,
  flags: EndpointFlagValues,
  settings: Settings,
): AuthHelp {
  const which = side === 'src' ? 'source' : 'target'
  const env = `IMGSYNC_${side.toUpperCase()}_USERNAME and IMGSYNC_${side.toUpperCase()}_PASSWORD`
  const file = flags[`${side}-creds-file`]
  const docker = flags.authfile
    ? `the docker config ${flags.authfile} (--authfile)`
    : `a docker login ${host}`
  const from = file
    ? `--${side}-creds-file ${file}`
    : settings.credentials(side)
      ? env
      : `${docker}, or none (anonymous)`
  return {
    side: which,
    options: [
      `check the ${which}'s credentials: they came from ${from}`,
      `give the ${which}'s with --${side}-creds-file FILE, ${env}, or ${docker}`,
    ],
  }
}
