import { accessSync, constants } from 'node:fs'
import { dirname, join } from 'node:path'
import { Flags } from '@oclif/core'
import { blobLocationsFor } from './copy/blob-cache.js'
import type { BlobLocations } from './copy/blob-copier.js'
import { parsePlatform } from './copy/platforms.js'
import { type TargetTags, targetTagsFor } from './copy/tag-cache.js'
import type { MinRate } from './copy/verify-stream.js'
import { type ErrorCode, ExitCodes, exitCodeFor, ImgsyncError } from './errors.js'
import { registerSecret } from './log.js'
import { RecordWriter, resolveRecordsPath } from './records/store.js'
import type { ItemRecord, TaskRecord } from './records/types.js'
import type { Credentials } from './registry/auth.js'
import { readCredentialsFile } from './registry/credentials.js'
import type { TlsOptions } from './registry/transport.js'
import { type EndpointConfig, RegistryPool } from './sync/registries.js'
import { runTask, type TaskResult, type TaskSpec } from './sync/run-task.js'
import { ProgressView, renderTaskSummary } from './ui/task-view.js'

/** The rule file location, for every command that reads or edits it. */
export const configFlag = {
  config: Flags.string({
    char: 'c',
    summary: 'Rule file (default $IMGSYNC_CONFIG or ./imgsync.yaml).',
    helpValue: 'FILE',
  }),
}

/** Flags shared by every command that runs a sync task. */
export const taskFlags = {
  override: Flags.boolean({
    summary:
      'Replace a target tag that points at a different digest (otherwise the item fails with IMAGE_EXISTS).',
  }),
  'dry-run': Flags.boolean({ summary: 'Show what would be copied, skipped or refused, and change nothing.' }),
  concurrency: Flags.integer({
    summary: 'Images and blob transfers in flight at once.',
    default: 8,
    min: 1,
    max: 64,
  }),
  'full-check': Flags.boolean({
    summary:
      'Ask the target for every tag instead of trusting tags this machine pushed or checked in the last 24 h (IMGSYNC_TAG_CACHE_TTL).',
  }),
  records: Flags.string({
    summary: 'Records file to append to (default $IMGSYNC_RECORDS or ~/.local/state/imgsync/records.jsonl).',
    helpValue: 'FILE',
  }),
  verbose: Flags.boolean({ char: 'v', summary: 'List every item in the summary, not only failures.' }),
}

/** Content selection flags of the ad-hoc sync commands (rules have the same as fields). */
export const contentFlags = {
  referrers: Flags.boolean({
    summary: 'Copy signatures, SBOMs and attestations (OCI referrers, cosign tags) with each image.',
    default: true,
    allowNo: true,
  }),
  platform: Flags.string({
    summary: 'Copy only this platform of multi-platform images (repeatable). Changes the index digest.',
    multiple: true,
    helpValue: 'os/arch[/variant]',
  }),
}

/** The --json document of a task: the same field names as the records. */
export interface TaskJson {
  task: TaskRecord
  items: ItemRecord[]
  excluded?: { source: string; tag: string; reason: string }[]
}

/** Ad-hoc credentials come from the environment, never from the command line. */
export function envCredentials(
  side: 'SRC' | 'DST',
  env: NodeJS.ProcessEnv = process.env,
): Credentials | undefined {
  const username = env[`IMGSYNC_${side}_USERNAME`]
  const password = env[`IMGSYNC_${side}_PASSWORD`]
  registerSecret(password)
  if (!username) return undefined
  return { username, password }
}

const CREDS_GROUP = 'CREDENTIALS AND TLS'

function credsFileFlag(side: 'src' | 'dst') {
  const which = side === 'src' ? 'source' : 'target'
  return Flags.string({
    summary: `File with the ${which} credentials: user:password, or JSON {"username","password"} or {"identitytoken"}.`,
    helpValue: 'FILE',
    env: `IMGSYNC_${side.toUpperCase()}_CREDS_FILE`,
    helpGroup: CREDS_GROUP,
  })
}

function caFlag(side: 'src' | 'dst') {
  return Flags.string({
    summary: `PEM file of the CA that signed the ${side === 'src' ? 'source' : 'target'} registry's certificate.`,
    helpValue: 'FILE',
    exclusive: [`${side}-insecure`, `${side}-plain-http`],
    helpGroup: CREDS_GROUP,
  })
}

function insecureFlag(side: 'src' | 'dst') {
  return Flags.boolean({
    summary: `Use TLS to the ${side === 'src' ? 'source' : 'target'} without verifying its certificate (test registries only; warns).`,
    exclusive: [`${side}-plain-http`],
    helpGroup: CREDS_GROUP,
  })
}

function plainHttpFlag(side: 'src' | 'dst') {
  return Flags.boolean({
    summary: `Plain HTTP to the ${side === 'src' ? 'source' : 'target'} (the default only for loopback hosts).`,
    helpGroup: CREDS_GROUP,
  })
}

/** Credential and TLS flags of `sync tag` / `sync repo`: files and switches, never a secret itself. */
export const endpointFlags = {
  'src-creds-file': credsFileFlag('src'),
  'dst-creds-file': credsFileFlag('dst'),
  authfile: Flags.string({
    summary:
      'Docker config file (auths, credHelpers, credsStore) to use instead of $DOCKER_CONFIG/config.json or ~/.docker/config.json.',
    helpValue: 'FILE',
    helpGroup: CREDS_GROUP,
  }),
  'src-ca': caFlag('src'),
  'dst-ca': caFlag('dst'),
  'src-insecure': insecureFlag('src'),
  'dst-insecure': insecureFlag('dst'),
  'src-plain-http': plainHttpFlag('src'),
  'dst-plain-http': plainHttpFlag('dst'),
}

export interface EndpointFlagValues {
  'src-creds-file'?: string
  'dst-creds-file'?: string
  authfile?: string
  'src-ca'?: string
  'dst-ca'?: string
  'src-insecure'?: boolean
  'dst-insecure'?: boolean
  'src-plain-http'?: boolean
  'dst-plain-http'?: boolean
}

/**
 * How an ad-hoc sync reaches one side: credentials from --SIDE-creds-file, else
 * IMGSYNC_SIDE_USERNAME/PASSWORD, else the docker config (--authfile), else anonymous; TLS from
 * --SIDE-ca / --SIDE-insecure / --SIDE-plain-http.
 */
export function adhocEndpoint(
  side: 'src' | 'dst',
  host: string,
  flags: EndpointFlagValues,
  env: NodeJS.ProcessEnv = process.env,
): EndpointConfig {
  const credsFile = flags[`${side}-creds-file`]
  const credentials = credsFile
    ? readCredentialsFile(credsFile, `--${side}-creds-file`)
    : envCredentials(side === 'src' ? 'SRC' : 'DST', env)
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
    host,
    credentials,
    ...(flags.authfile && { dockerConfig: flags.authfile, dockerConfigRequired: true }),
    ...(Object.keys(tls).length > 0 && { tls }),
  }
}

export function exitCodeForTask(result: TaskResult): number {
  const { task } = result
  if (task.status === 'interrupted') return ExitCodes.interrupted
  if (task.status === 'failed' && task.code) return exitCodeFor(task.code as ErrorCode)
  if (task.failed > 0) return ExitCodes.failed
  if (task.items === 0) return ExitCodes.nothingMatched
  return ExitCodes.ok
}

/**
 * SIGINT/SIGTERM abort the running task: no new items start, in-flight ones get a short grace,
 * the rest are recorded `interrupted`, and the command exits 130. A second signal exits at once.
 */
function abortOnSignals(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController()
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(ExitCodes.interrupted)
    process.stderr.write(
      `imgsync: ${name}: stopping; in-flight images get a few seconds (${name} again stops now)\n`,
    )
    controller.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    },
  }
}

/** The task fields every ad-hoc sync command sets the same way from its arguments and flags. */
export function adhocTaskFields(
  args: { src: string; dst: string },
  flags: {
    override: boolean
    'dry-run': boolean
    concurrency: number
    referrers: boolean
    platform?: string[]
  },
): Pick<
  TaskSpec,
  'trigger' | 'source' | 'target' | 'override' | 'dryRun' | 'concurrency' | 'referrers' | 'platforms'
> {
  return {
    trigger: 'manual',
    source: args.src,
    target: args.dst,
    override: flags.override,
    dryRun: flags['dry-run'],
    concurrency: flags.concurrency,
    referrers: flags.referrers,
    platforms: flags.platform?.map(parsePlatform),
  }
}

/** Per-rule lock files live beside the records file unless IMGSYNC_LOCK_DIR says otherwise. */
export function lockDirFor(recordsPath: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.IMGSYNC_LOCK_DIR ?? join(dirname(recordsPath), 'locks')
}

export interface TaskContext {
  records: RecordWriter
  listener: ProgressView
  signal: AbortSignal
  blobLocations: BlobLocations
  targetTags: TargetTags
  lockDir: string
  /** registries of the run; a signal stops their requests */
  pool: RegistryPool
  blobMinRate: MinRate
}

/**
 * What a command sets up around its tasks and tears down after: the records file, the progress
 * view (terminal only), Ctrl-C handling, and the blob-location and target-tag caches.
 */
export async function withTaskContext<T>(
  opts: { json: boolean; recordsPath?: string; fullCheck?: boolean },
  fn: (ctx: TaskContext) => Promise<T>,
): Promise<T> {
  const records = new RecordWriter(resolveRecordsPath(opts.recordsPath))
  const signals = abortOnSignals()
  try {
    const pool = new RegistryPool({ signal: signals.signal })
    return await fn({
      records,
      listener: new ProgressView(!opts.json && process.stderr.isTTY === true),
      signal: signals.signal,
      blobLocations: blobLocationsFor(records.path),
      targetTags: targetTagsFor(records.path, { fullCheck: opts.fullCheck }),
      lockDir: lockDirFor(records.path),
      pool,
      blobMinRate: pool.blobMinRate,
    })
  } finally {
    signals.dispose()
    records.close()
  }
}

/** Runs a task with the terminal view, prints the summary, sets the exit code, returns the JSON. */
export async function runTaskForCommand(
  spec: (
    pool: RegistryPool,
  ) => Omit<TaskSpec, 'records' | 'listener' | 'signal' | 'blobLocations' | 'targetTags'>,
  opts: { json: boolean; verbose: boolean; recordsPath?: string; fullCheck?: boolean },
): Promise<TaskJson> {
  const result = await withTaskContext(opts, (ctx) => runTask({ ...spec(ctx.pool), ...ctx }))
  if (!opts.json) process.stderr.write(`${renderTaskSummary(result, { verbose: opts.verbose })}\n`)
  process.exitCode = exitCodeForTask(result)
  const out: TaskJson = { task: result.task, items: result.items }
  if (result.excluded.length > 0) out.excluded = result.excluded
  return out
}
