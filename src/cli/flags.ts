// Flags that several commands share: the rule file, task behaviour, content selection, and how an
// ad-hoc sync reaches each side (files and switches, never a secret itself).
import { Errors, Flags } from '@oclif/core'
import { parseByteSize, parseDuration } from '../text.js'

/** The rule file location, for every command that reads or edits it. */
export const configFlag = {
  config: Flags.string({
    char: 'c',
    summary: 'Rule file (default $IMGSYNC_CONFIG or ./imgsync.yaml).',
    helpValue: 'FILE',
  }),
}

/** --limit-rate RATE: blob bytes per second for the whole process, as curl's (k/M/G, 1024-based). */
export function limitRateFlag() {
  return Flags.custom<number>({
    summary: 'Blob bytes per second at most, for the whole process (k, M, G suffixes, as curl: 8M).',
    helpValue: 'RATE',
    parse: async (input) => {
      const bytes = parseByteSize(input)
      if (bytes === undefined)
        throw new Errors.CLIError(`"${input}" is not a rate: write bytes per second, or e.g. 500k, 8M, 1G`)
      return bytes
    },
  })()
}

/** A duration flag ("30s", "15m", "1h"; a bare number is seconds), parsed to ms. */
export function durationFlag(summary: string, defaultValue: string) {
  return Flags.custom<number>({
    summary: `${summary} (e.g. 30s, 15m, 1h; default ${defaultValue}).`,
    helpValue: 'DURATION',
    default: async () => parseDuration(defaultValue)!,
    parse: async (input) => {
      const ms = parseDuration(input)
      if (ms === undefined) throw new Error(`"${input}" is not a duration: write e.g. 30s, 15m or 1h`)
      return ms
    },
  })()
}

/** Flags shared by every command that runs a sync task. */
export const taskFlags = {
  override: Flags.boolean({
    summary:
      'Replace a target tag that points at a different digest (otherwise the item fails with IMAGE_EXISTS).',
  }),
  'dry-run': Flags.boolean({ summary: 'Show what would be copied, skipped or refused, and change nothing.' }),
  concurrency: Flags.integer({
    summary:
      'Images and blob transfers in flight at once; requests waiting for an answer, 4 × this per registry.',
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
  'limit-rate': limitRateFlag(),
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

/** Every flag `sync tag` and `sync repo` share: the task's, content selection, and endpoints. */
export const adhocSyncFlags = { ...taskFlags, ...contentFlags, ...endpointFlags }

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
