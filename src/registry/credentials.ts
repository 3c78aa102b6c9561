// Where credentials come from, resolved lazily per registry host (the CredentialSource seam of
// auth.ts): explicit ones (rule file, environment, a credentials file), the docker config with the
// real `docker-credential-*` helper protocol, then anonymous. Nothing here ever logs a secret or a
// helper's output.
import { execFile } from 'node:child_process'
import { readFileSync, statSync } from 'node:fs'
import { ImgsyncError } from '../errors.js'
import { log, registerSecret, warnOnce } from '../log.js'
import type { CredentialSource, Credentials } from './auth.js'

/** The parts of `~/.docker/config.json` (or a podman/skopeo auth.json) that hold credentials. */
export interface DockerConfig {
  auths?: Record<
    string,
    { auth?: string; username?: string; password?: string; identitytoken?: string } | undefined
  >
  credHelpers?: Record<string, string>
  credsStore?: string
}

/** Docker Hub's key in the docker config, and the server address its helpers expect. */
export const DOCKER_HUB_CONFIG_KEY = 'https://index.docker.io/v1/'
const HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io'])
const HELPER_TIMEOUT_MS = 60_000
/** A helper answer bigger than this is not credentials. */
const HELPER_MAX_OUTPUT = 1024 * 1024

/** The first source that has credentials for a host wins; none means anonymous. */
export function chainCredentials(...sources: (CredentialSource | undefined)[]): CredentialSource {
  return async (host) => {
    for (const source of sources) {
      const c = source ? await source(host) : undefined
      if (c && (c.username || c.identityToken)) return c
    }
    return undefined
  }
}

/** `host[:port]` of a docker-config key: `https://host/v1/` → `host`. */
export function normalizeConfigKey(key: string): string {
  const bare = key
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase()
  return HUB_HOSTS.has(bare) ? 'docker.io' : bare
}

function isHub(host: string): boolean {
  return HUB_HOSTS.has(host.toLowerCase())
}

/** The value under `host` in a docker-config map, matching keys written with scheme or path too. */
function lookup<T>(map: Record<string, T> | undefined, host: string): T | undefined {
  if (!map) return undefined
  if (isHub(host) && map[DOCKER_HUB_CONFIG_KEY] !== undefined) return map[DOCKER_HUB_CONFIG_KEY]
  if (map[host] !== undefined) return map[host]
  const want = normalizeConfigKey(host)
  for (const [key, value] of Object.entries(map)) if (normalizeConfigKey(key) === want) return value
  return undefined
}

/** Reads a docker config file; a missing default file is simply no configuration. */
export function readDockerConfig(path: string, required = false): DockerConfig | undefined {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (!required && (code === 'ENOENT' || code === 'ENOTDIR')) return undefined
    throw new ImgsyncError('CONFIG_INVALID', `cannot read the docker config ${path} (${code ?? 'error'})`, {
      suggestions: ['check the path given to --authfile or DOCKER_CONFIG'],
    })
  }
  try {
    const json = JSON.parse(text) as unknown
    if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new Error('not an object')
    return json as DockerConfig
  } catch {
    // never echo the file: it holds secrets
    throw new ImgsyncError('CONFIG_INVALID', `the docker config ${path} is not valid JSON`, {
      suggestions: ['fix the file, or run docker login again'],
    })
  }
}

/** Credentials from one `auths` entry: `auth` (base64 user:password), username/password, identitytoken. */
function fromAuthEntry(
  entry: NonNullable<NonNullable<DockerConfig['auths']>[string]>,
): Credentials | undefined {
  let username = entry.username
  let password = entry.password
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon > 0) {
      username = decoded.slice(0, colon)
      password = decoded.slice(colon + 1)
    }
  }
  registerSecret(password)
  registerSecret(entry.identitytoken)
  registerSecret(entry.auth)
  if (entry.identitytoken) return { username, identityToken: entry.identitytoken }
  if (username) return { username, password }
  return undefined
}

/**
 * Credentials from a docker config, in docker's order: `credHelpers[host]`, then `credsStore`
 * (falling back to `auths` when the store has none), then `auths[host]`.
 */
export function dockerConfigCredentials(path: string, opts: { required?: boolean } = {}): CredentialSource {
  let config: DockerConfig | undefined | null = null
  return async (host) => {
    if (config === null) config = readDockerConfig(path, opts.required)
    if (!config) return undefined
    const helper = lookup(config.credHelpers, host)
    if (helper) return runCredentialHelper(helper, helperServerAddress(host), `credHelpers in ${path}`)
    const entry = lookup(config.auths, host)
    if (config.credsStore) {
      const stored = await runCredentialHelper(
        config.credsStore,
        helperServerAddress(host),
        `credsStore in ${path}`,
      )
      if (stored) return stored
    }
    return entry ? fromAuthEntry(entry) : undefined
  }
}

/** What a helper is asked for: the bare host[:port], or Hub's legacy URL. */
function helperServerAddress(host: string): string {
  return isHub(host) ? DOCKER_HUB_CONFIG_KEY : host
}

/**
 * Runs `docker-credential-<name> get` with the server address on stdin and reads
 * `{"ServerURL","Username","Secret"}` from stdout. Username `<token>` means Secret is an identity
 * token. A non-zero exit (e.g. "credentials not found") means anonymous. The output is never
 * logged, not even in debug mode.
 */
export function runCredentialHelper(
  name: string,
  serverAddress: string,
  origin: string,
  /** the helper's environment (default: imgsync's own, as docker runs helpers) */
  env?: NodeJS.ProcessEnv,
): Promise<Credentials | undefined> {
  const bin = `docker-credential-${name}`
  return new Promise((resolve, reject) => {
    const child = execFile(
      bin,
      ['get'],
      { env, timeout: HELPER_TIMEOUT_MS, maxBuffer: HELPER_MAX_OUTPUT, encoding: 'utf8', windowsHide: true },
      (err, stdout) => {
        if (err) {
          const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: string | number }
          if (e.code === 'ENOENT' || e.code === 'EACCES') {
            reject(
              new ImgsyncError(
                'AUTH_FAILED',
                `credential helper ${bin} (${origin}) is not installed or not executable on PATH`,
                {
                  suggestions: [
                    `install ${bin}, or remove "${name}" from the docker config, or give credentials another way`,
                  ],
                },
              ),
            )
            return
          }
          if (e.killed) {
            reject(new ImgsyncError('AUTH_FAILED', `credential helper ${bin} did not answer in time`))
            return
          }
          // "credentials not found in native keychain" and any other refusal: anonymous
          log.debug(`${bin}: no credentials for ${serverAddress} (exit ${e.code ?? 'error'})`)
          resolve(undefined)
          return
        }
        let answer: { Username?: unknown; Secret?: unknown }
        try {
          answer = JSON.parse(stdout) as { Username?: unknown; Secret?: unknown }
        } catch {
          reject(new ImgsyncError('AUTH_FAILED', `credential helper ${bin} answered with something not JSON`))
          return
        }
        const username = typeof answer.Username === 'string' ? answer.Username : undefined
        const secret = typeof answer.Secret === 'string' ? answer.Secret : undefined
        registerSecret(secret)
        if (!secret) {
          resolve(undefined)
          return
        }
        if (username === '<token>') resolve({ identityToken: secret })
        else if (username) resolve({ username, password: secret })
        else resolve(undefined)
      },
    )
    child.stdin?.on('error', () => undefined)
    child.stdin?.end(serverAddress)
  })
}

/**
 * A credentials file for ad-hoc syncs: `user:password` on the first line, or JSON
 * `{"username","password"}` / `{"identitytoken"}`. Warns when others can read it.
 */
export function readCredentialsFile(path: string, what: string): Credentials {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ImgsyncError(
      'INVALID_ARGUMENT',
      `${what}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    )
  }
  warnIfReadableByOthers(path, 'holds credentials')
  const trimmed = text.trim()
  let creds: Credentials | undefined
  if (trimmed.startsWith('{')) {
    try {
      const json = JSON.parse(trimmed) as Record<string, unknown>
      const str = (k: string) => (typeof json[k] === 'string' ? (json[k] as string) : undefined)
      const identityToken = str('identitytoken') ?? str('identityToken')
      const username = str('username') ?? str('Username')
      const password = str('password') ?? str('Secret') ?? str('secret')
      if (identityToken) creds = { username, identityToken }
      else if (username === '<token>' && password) creds = { identityToken: password }
      else if (username) creds = { username, password }
    } catch {
      throw new ImgsyncError('INVALID_ARGUMENT', `${what}: ${path} is not valid JSON`)
    }
  } else {
    const line = trimmed.split(/\r?\n/)[0] ?? ''
    const colon = line.indexOf(':')
    if (colon > 0) creds = { username: line.slice(0, colon), password: line.slice(colon + 1) }
  }
  if (!creds) {
    throw new ImgsyncError(
      'INVALID_ARGUMENT',
      `${what}: ${path} holds no credentials; write user:password, or JSON {"username","password"} or {"identitytoken"}`,
    )
  }
  registerSecret(creds.password)
  registerSecret(creds.identityToken)
  return creds
}

/** Warns (once) when a file holding secrets is readable by group or others. */
export function warnIfReadableByOthers(path: string, why: string): void {
  if (process.platform === 'win32') return
  try {
    const mode = statSync(path).mode
    if ((mode & 0o077) !== 0) {
      warnOnce(
        `${path} ${why} and is readable by group/others (mode ${(mode & 0o777).toString(8)}); run chmod 600 ${path}`,
      )
    }
  } catch {
    // the caller reports unreadable files
  }
}
