// The environment variables imgsync reads (settings.ts reads them), and which commands use each: the
// ENVIRONMENT section of every command's --help is made from this list, as README "Environment
// variables" is.

export interface EnvironmentVariable {
  name: string
  meaning: string
  /** command ids (`sync:tag`), or '*' for every command */
  commands: readonly string[]
}

const SYNC = ['sync:tag', 'sync:repo'] as const
const RUNS = [...SYNC, 'rule:trigger', 'serve'] as const
const RULE_FILE = [
  'rule:create',
  'rule:update',
  'rule:delete',
  'rule:enable',
  'rule:disable',
  'rule:list',
  'rule:show',
  'rule:trigger',
  'serve',
] as const

export const ENVIRONMENT: readonly EnvironmentVariable[] = [
  {
    name: 'IMGSYNC_CONFIG',
    meaning: 'the rule file (default ./imgsync.yaml; --config wins)',
    commands: RULE_FILE,
  },
  {
    name: 'IMGSYNC_RECORDS',
    meaning: 'the records file (default ~/.local/state/imgsync/records.jsonl; --records wins)',
    commands: [...RUNS, 'records'],
  },
  {
    name: 'IMGSYNC_RECORDS_MAX_SIZE',
    meaning: 'rotate the records file past this size (default 100MB; 0 never)',
    commands: RUNS,
  },
  {
    name: 'IMGSYNC_RECORDS_KEEP',
    meaning: 'rotated records files kept (default 10)',
    commands: RUNS,
  },
  {
    name: 'IMGSYNC_LOCK_DIR',
    meaning: 'where rule locks live (default locks/ beside the records)',
    commands: ['rule:trigger', 'serve'],
  },
  {
    name: 'IMGSYNC_TIMEOUT',
    meaning: 'seconds to wait for an answer or an idle body (default 30)',
    commands: RUNS,
  },
  {
    name: 'IMGSYNC_RETRIES',
    meaning: 'tries after the first of a request or blob (0-20, default 5)',
    commands: RUNS,
  },
  {
    name: 'IMGSYNC_RATE_LIMIT_WAIT',
    meaning: 'seconds one request may wait out rate limits (default 300)',
    commands: RUNS,
  },
  {
    name: 'IMGSYNC_TAG_CACHE',
    meaning: 'remembered target tags: a file, or off (default target-tags.tsv beside the records)',
    commands: RUNS,
  },
  {
    name: 'IMGSYNC_TAG_CACHE_TTL',
    meaning: 'seconds a remembered target tag is trusted (default 86400; 0 trusts none)',
    commands: RUNS,
  },
  {
    name: 'IMGSYNC_BLOB_CACHE',
    meaning: 'remembered blob locations: a file, or off (default blob-locations.tsv beside the records)',
    commands: RUNS,
  },
  { name: 'IMGSYNC_SRC_USERNAME', meaning: 'source username (with IMGSYNC_SRC_PASSWORD)', commands: SYNC },
  { name: 'IMGSYNC_SRC_PASSWORD', meaning: 'source password', commands: SYNC },
  { name: 'IMGSYNC_DST_USERNAME', meaning: 'target username (with IMGSYNC_DST_PASSWORD)', commands: SYNC },
  { name: 'IMGSYNC_DST_PASSWORD', meaning: 'target password', commands: SYNC },
  { name: 'IMGSYNC_SRC_CREDS_FILE', meaning: 'as --src-creds-file', commands: SYNC },
  { name: 'IMGSYNC_DST_CREDS_FILE', meaning: 'as --dst-creds-file', commands: SYNC },
  {
    name: 'IMGSYNC_WEBHOOK_TOKEN',
    meaning: 'the bearer token webhooks must send (wins over serve.webhookToken)',
    commands: ['serve'],
  },
  { name: 'IMGSYNC_LOG_LEVEL', meaning: 'as --log-level: error, warn, info, debug', commands: ['*'] },
  { name: 'IMGSYNC_DEBUG', meaning: 'print the stack of an INTERNAL error', commands: ['*'] },
  {
    name: 'DOCKER_CONFIG',
    meaning: 'the docker config directory for credentials (default ~/.docker)',
    commands: RUNS,
  },
]

/** The variables command `id` (e.g. `sync:tag`) reads, in the order of ENVIRONMENT. */
export function environmentOf(id: string): EnvironmentVariable[] {
  return ENVIRONMENT.filter((v) => v.commands.includes('*') || v.commands.includes(id))
}
