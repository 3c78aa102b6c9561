// The bad-input corpus: a table of wrong CLI arguments, broken rule files, bad credentials and
// unusable registries. Each must end with ONE coded error line that says what to do, the documented
// exit code, no stack trace, and no change to the rule file or to any target registry.
// (test/fixtures/rules/bad-*.yaml are covered by rules.test.ts; the rule files here are other mistakes.)
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunResult, runImgsync } from '../harness/cli.js'
import { type FaultProxy, startFaultProxy, uploadPath } from '../harness/fault-proxy.js'
import { getManifest, listTags, pushImage } from '../harness/fixtures.js'
import { catalog, checkGraph, describeDangling } from '../harness/graph-check.js'
import { type RunningRegistry, startRegistry, TEST_TLS } from '../harness/registry.js'

const FIXTURES = fileURLToPath(new URL('../fixtures/bad-input/', import.meta.url))
const USER = { username: 'robot', password: 'correct-horse-battery' }
const WRONG_PASSWORD = 'Wr0ng-Passw0rd-xyz'

interface Ctx {
  /** plain registry: source of good images, and the target every row names */
  reg: RunningRegistry
  /** htpasswd registry */
  auth: RunningRegistry
  /** TLS registry (test CA) */
  tls: RunningRegistry
  /** a plain HTTP server that answers 404 to everything */
  notRegistry: string
  /** answers GET /v2/ but has no catalog */
  noCatalog: string
  /** a loopback port nothing listens on */
  unreachable: string
  /** in front of reg: refuses blob uploads with 404 NAME_UNKNOWN, like a registry without create-on-push */
  noCreate: FaultProxy
  dir: string
  /** a valid rule file with rules `on` (enabled) and `off` (disabled) */
  rules: string
  /** copies of the bad-input fixtures, by file name */
  bad: (name: string) => string
}

interface Row {
  name: string
  args: (c: Ctx) => string[]
  env?: (c: Ctx) => Record<string, string>
  /** expected error code */
  code: string
  /** documented exit code */
  exit: 1 | 2
  /** what the line must say: the problem and what to do */
  says: RegExp
  /** a file whose bytes must not change */
  file?: (c: Ctx) => string
  /** `command --help` must list this flag, else the row is skipped (not faked) */
  needs?: { command: 'sync tag' | 'sync repo'; flag: string }
  /** must not appear anywhere in the output */
  secret?: string
}

const R = (c: Ctx) => c.reg.host
const T = (c: Ctx, repo = 'untouched/x') => `${c.reg.host}/${repo}`
const ok = (c: Ctx) => `${c.reg.host}/conc/app:1.0`
const digest64 = 'a'.repeat(64)
const ruleFlags = (c: Ctx) => [
  '--source-registry',
  R(c),
  '--source-namespace',
  'conc',
  '--target-registry',
  R(c),
]

const rows: Row[] = [
  // ---- references
  {
    name: 'reference with white space',
    args: (c) => ['sync', 'tag', 'Bad Ref', T(c)],
    code: 'INVALID_REFERENCE',
    exit: 2,
    says: /white space.*host\[:port\]\/repository/,
  },
  {
    name: 'uppercase repository',
    args: (c) => ['sync', 'tag', `${R(c)}/App:1`, T(c)],
    code: 'INVALID_REFERENCE',
    exit: 2,
    says: /lowercase/,
  },
  {
    name: 'tag with "!"',
    args: (c) => ['sync', 'tag', `${R(c)}/app:bad!tag`, T(c)],
    code: 'INVALID_REFERENCE',
    exit: 2,
    says: /not a valid tag \(letters, digits/,
  },
  {
    name: 'short digest',
    args: (c) => ['sync', 'tag', `${R(c)}/app@sha256:abc`, T(c)],
    code: 'INVALID_REFERENCE',
    exit: 2,
    says: /not a digest \(sha256:<64/,
  },
  {
    name: 'scheme in the reference',
    args: (c) => ['sync', 'tag', `http://${R(c)}/app:1`, T(c)],
    code: 'INVALID_REFERENCE',
    exit: 2,
    says: /leave out the scheme/,
  },
  {
    name: 'port out of range',
    args: (c) => ['sync', 'tag', '127.0.0.1:99999/app:1', T(c)],
    code: 'INVALID_REFERENCE',
    exit: 2,
    says: /port 99999 is out of range/,
  },
  {
    name: 'target names a digest',
    args: (c) => ['sync', 'tag', ok(c), `${T(c)}@sha256:${digest64}`],
    code: 'INVALID_REFERENCE',
    exit: 2,
    says: /names a digest; give host\/repo\[:tag\]/,
  },
  {
    name: 'sync repo given a tag',
    args: (c) => ['sync', 'repo', ok(c), T(c)],
    code: 'INVALID_REFERENCE',
    exit: 2,
    says: /names a tag or digest; sync repo takes a repository/,
  },
  // ---- arguments and flags
  {
    name: '--tags with a tagged source',
    args: (c) => ['sync', 'tag', ok(c), T(c), '--tags', 'a,b'],
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /give the source as a repository/,
  },
  {
    name: '--tags with an invalid tag',
    args: (c) => ['sync', 'tag', `${R(c)}/conc/app`, T(c), '--tags', '1.0,bad tag'],
    code: 'INVALID_REFERENCE',
    exit: 2,
    says: /"bad tag" is not a valid tag/,
  },
  {
    name: 'missing target argument',
    args: (c) => ['sync', 'tag', ok(c)],
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /Missing 1 required arg: dst.*see --help/,
  },
  {
    name: 'unknown flag',
    args: (c) => ['sync', 'tag', ok(c), T(c), '--frobnicate'],
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /unknown flag --frobnicate.*see --help/,
  },
  {
    name: '--concurrency 0',
    args: (c) => ['sync', 'tag', ok(c), T(c), '--concurrency', '0'],
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /--concurrency.*greater than or equal to 1/,
  },
  {
    name: '--concurrency 65',
    args: (c) => ['sync', 'repo', `${R(c)}/conc/app`, T(c), '--concurrency', '65'],
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /--concurrency.*less than or equal to 64/,
  },
  {
    name: '--log-level verbose',
    args: (c) => ['sync', 'tag', ok(c), T(c), '--log-level', 'verbose'],
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /one of: error, warn, info, debug/,
  },
  {
    name: '--latest 0',
    args: (c) => ['sync', 'repo', `${R(c)}/conc/app`, T(c), '--latest', '0'],
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /--latest.*greater than or equal to 1/,
  },
  {
    name: '--platform linux (no arch)',
    args: (c) => ['sync', 'tag', ok(c), T(c), '--platform', 'linux'],
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /os\/arch or os\/arch\/variant/,
    needs: { command: 'sync tag', flag: '--platform' },
  },
  {
    name: '--platform Linux/AMD64',
    args: (c) => ['sync', 'tag', ok(c), T(c), '--platform', 'Linux/AMD64'],
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /os\/arch or os\/arch\/variant/,
    needs: { command: 'sync tag', flag: '--platform' },
  },
  // ---- regular expressions
  {
    name: '--exclude "[a-"',
    args: (c) => ['sync', 'repo', `${R(c)}/conc/app`, T(c), '--exclude', '[a-'],
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /--exclude: invalid regular expression.*Unterminated character class/,
  },
  {
    name: '--include with a duplicate group name',
    args: (c) => ['sync', 'repo', `${R(c)}/conc/app`, T(c), '--include', '(?<n>a)(?<n>b)'],
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /--include: invalid regular expression.*Duplicate capture group/,
  },
  {
    name: 'rule create --tags "("',
    args: (c) => ['rule', 'create', 'x1', '-c', c.rules, ...ruleFlags(c), '--tags', '('],
    // the flag is wrong, not the file: it is named, and the file is left alone
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /--include: invalid regular expression "\(".*Unterminated group/,
    file: (c) => c.rules,
  },
  {
    name: 'rule update --tags "(["',
    args: (c) => ['rule', 'update', 'on', '-c', c.rules, '--tags', '(['],
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /--include: invalid regular expression/,
    file: (c) => c.rules,
  },
  // ---- --shard, --since, other command flags
  {
    name: '--shard 3/2',
    args: (c) => ['rule', 'trigger', 'on', '-c', c.rules, '--shard', '3/2'],
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /INDEX must be below 2; write --shard INDEX\/COUNT/,
  },
  {
    name: '--shard abc',
    args: (c) => ['rule', 'trigger', 'on', '-c', c.rules, '--shard', 'abc'],
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /invalid shard "abc"; write --shard INDEX\/COUNT/,
  },
  {
    name: '--since yesterday',
    args: () => ['records', '--since', 'yesterday'],
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /expected a duration like 24h, 30m, 7d or an ISO time/,
  },
  {
    name: 'records --status bogus',
    args: () => ['records', '--status', 'bogus'],
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /one of: synced, skipped, failed/,
  },
  {
    name: '--records is a directory',
    args: (c) => ['sync', 'tag', ok(c), T(c), '--records', c.dir],
    code: 'CONFIG_INVALID',
    exit: 2,
    says: /cannot open the records file.*pass --records FILE/,
  },
  {
    name: 'IMGSYNC_TIMEOUT=abc',
    args: (c) => ['sync', 'tag', ok(c), T(c)],
    env: () => ({ IMGSYNC_TIMEOUT: 'abc' }),
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /IMGSYNC_TIMEOUT="abc" is not a number of seconds.*unset it/,
  },
  {
    name: 'IMGSYNC_RETRIES=-1',
    args: (c) => ['sync', 'repo', `${R(c)}/conc/app`, T(c)],
    env: () => ({ IMGSYNC_RETRIES: '-1' }),
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /IMGSYNC_RETRIES="-1".*0-20/,
  },
  {
    name: 'IMGSYNC_TAG_CACHE_TTL=a day',
    args: (c) => ['sync', 'tag', ok(c), T(c)],
    env: () => ({ IMGSYNC_TAG_CACHE_TTL: 'a day' }),
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /IMGSYNC_TAG_CACHE_TTL="a day" is not a number of seconds.*unset it/,
  },
  // ---- rule commands
  {
    name: 'rule trigger without a name',
    args: (c) => ['rule', 'trigger', '-c', c.rules],
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /name at least one rule, or pass --all/,
  },
  {
    name: 'rule trigger of an unknown rule',
    args: (c) => ['rule', 'trigger', 'nosuch', '-c', c.rules],
    code: 'RULE_NOT_FOUND',
    exit: 2,
    says: /no rule named "nosuch".*known rules: on, off/,
  },
  {
    name: 'rule trigger of a disabled rule',
    args: (c) => ['rule', 'trigger', 'off', '-c', c.rules],
    code: 'RULE_DISABLED',
    exit: 2,
    says: /enable it with: imgsync rule enable off/,
  },
  {
    name: 'rule trigger with a missing rule file',
    args: (c) => ['rule', 'trigger', 'on', '-c', join(c.dir, 'none.yaml')],
    code: 'CONFIG_INVALID',
    exit: 2,
    says: /no rule file at .*none\.yaml.*rule create/,
  },
  {
    name: 'rule create of an existing name',
    args: (c) => ['rule', 'create', 'on', '-c', c.rules, ...ruleFlags(c)],
    code: 'RULE_EXISTS',
    exit: 2,
    says: /already exists.*imgsync rule update on/,
    file: (c) => c.rules,
  },
  {
    name: 'rule create Bad_Name',
    args: (c) => ['rule', 'create', 'Bad_Name', '-c', c.rules, ...ruleFlags(c)],
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /NAME "Bad_Name": invalid rule name: use lowercase letters/,
    file: (c) => c.rules,
  },
  {
    name: 'rule create with a bad cron',
    args: (c) => [
      'rule',
      'create',
      'x2',
      '-c',
      c.rules,
      ...ruleFlags(c),
      '--trigger',
      'schedule',
      '--cron',
      'not a cron',
    ],
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /--cron: invalid cron expression "not a cron"/,
    file: (c) => c.rules,
  },
  {
    name: 'rule create with an unknown time zone',
    args: (c) => [
      'rule',
      'create',
      'x3',
      '-c',
      c.rules,
      ...ruleFlags(c),
      '--cron',
      '0 1 * * *',
      '--timezone',
      'Mars/Olympus',
    ],
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /--timezone: .*not an IANA time zone name \(e\.g\. Asia\/Shanghai/,
    file: (c) => c.rules,
  },
  {
    name: 'rule create --types image,video',
    args: (c) => ['rule', 'create', 'x4', '-c', c.rules, ...ruleFlags(c), '--types', 'image,video'],
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /--types: expected one of image, helm, artifact; got a string "video"/,
    file: (c) => c.rules,
  },
  {
    name: 'rule create --semver ">>>1"',
    args: (c) => ['rule', 'create', 'x5', '-c', c.rules, ...ruleFlags(c), '--semver', '>>>1'],
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /--semver: .*not a semver range \(e\.g\./,
    file: (c) => c.rules,
  },
  {
    name: 'rule create with a scheme in the registry',
    args: (c) => [
      'rule',
      'create',
      'x6',
      '-c',
      c.rules,
      '--source-registry',
      'http://x.example.com',
      '--source-namespace',
      'a',
      '--target-registry',
      R(c),
    ],
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /write the host without a scheme/,
    file: (c) => c.rules,
  },
  {
    name: 'rule create --repos with --repo-list',
    args: (c) => ['rule', 'create', 'x7', '-c', c.rules, ...ruleFlags(c), '--repos', 'x', '--repo-list', 'y'],
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /--repos=x cannot also be provided when using --repo-list/,
    file: (c) => c.rules,
  },
  {
    name: 'rule create --target-namespace /bad/',
    args: (c) => ['rule', 'create', 'x8', '-c', c.rules, ...ruleFlags(c), '--target-namespace', '/bad/'],
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /--target-namespace: .*without leading or trailing "\/"/,
    file: (c) => c.rules,
  },
  {
    name: 'rule update of an unknown rule',
    args: (c) => ['rule', 'update', 'nosuch', '-c', c.rules, '--description', 'x'],
    code: 'RULE_NOT_FOUND',
    exit: 2,
    says: /no rule named "nosuch"/,
    file: (c) => c.rules,
  },
  {
    name: 'rule delete of an unknown rule',
    args: (c) => ['rule', 'delete', 'nosuch', '-c', c.rules],
    code: 'RULE_NOT_FOUND',
    exit: 2,
    says: /rules in this file: on, off/,
    file: (c) => c.rules,
  },
  // ---- rule files: YAML syntax, schema, cross-references (read by list/trigger, edited by create/update/disable)
  ...(
    [
      [
        'yaml-bad-indent.yaml',
        'list',
        /9:\d+: .*YAML syntax error: all mapping items must start at the same column/,
      ],
      [
        'yaml-undefined-alias.yaml',
        'trigger',
        /7:13: YAML error: alias \*hk-source refers to no anchor: define &hk-source/,
      ],
      ['yaml-undefined-alias.yaml', 'disable', /alias \*hk-source refers to no anchor/],
      [
        'yaml-top-level-list.yaml',
        'list',
        /\(root\): expected a mapping with version, registries and rules, got a list/,
      ],
      ['yaml-nul-bytes.yaml', 'list', /invalid host .*expected host\[:port\]/],
      ['yaml-two-documents.yaml', 'create', /YAML syntax error: source contains multiple documents/],
      [
        'schema-namespace-number.yaml',
        'trigger',
        /7:\d+: rules\[0\]\.source\.namespace: expected a string, got a number 42/,
      ],
      ['schema-rule-without-source.yaml', 'list', /rules\[0\]\.source: required key is missing/],
      [
        'schema-version-float.yaml',
        'list',
        /unsupported rule file version 1\.5; this imgsync reads version 1/,
      ],
      [
        'schema-registries-list.yaml',
        'create',
        /registries in the rule file is not a mapping \(write each registry as NAME/,
      ],
      [
        'schema-credentials-no-password.yaml',
        'trigger',
        /registries\.hk\.credentials\.password: required key is missing/,
      ],
      ['schema-tls-cert-without-key.yaml', 'list', /tls\.cert and tls\.key go together/],
      [
        'schema-platform-empty-arch.yaml',
        'trigger',
        /platforms\[0\]: expected os\/arch or os\/arch\/variant/,
      ],
      ['schema-types-empty.yaml', 'list', /list at least one of image, helm, artifact/],
      ['schema-repositories-empty-list.yaml', 'update', /list at least one repository, or omit it for all/],
      ['xref-registry-name-invalid.yaml', 'list', /invalid registry name "hong kong": use letters, digits/],
      [
        'xref-second-rule-unknown-registry.yaml',
        'trigger',
        /rules\[1\]\.target\.registry: unknown registry "sh".*name one of hk, bj/,
      ],
    ] as const
  ).map(
    ([file, command, says]): Row => ({
      name: `rule ${command} on ${file}`,
      args: (c) => {
        const f = c.bad(file)
        if (command === 'list') return ['rule', 'list', '-c', f]
        if (command === 'trigger') return ['rule', 'trigger', 'app-to-bj', '-c', f]
        if (command === 'disable') return ['rule', 'disable', 'app-to-bj', '-c', f]
        if (command === 'update') return ['rule', 'update', 'app-to-bj', '-c', f, '--description', 'x']
        return [
          'rule',
          'create',
          'new-rule',
          '-c',
          f,
          '--source-registry',
          'a.example.com',
          '--source-namespace',
          'x',
          '--target-registry',
          'b.example.com',
        ]
      },
      code: 'CONFIG_INVALID',
      exit: 2,
      says,
      file: (c) => c.bad(file),
    }),
  ),
  // ---- credentials
  {
    name: 'wrong password for the target',
    args: (c) => ['sync', 'tag', ok(c), `${c.auth.host}/team/app`],
    env: () => ({ IMGSYNC_DST_USERNAME: USER.username, IMGSYNC_DST_PASSWORD: WRONG_PASSWORD }),
    code: 'AUTH_FAILED',
    exit: 1,
    // the side that failed, and where its credentials came from
    says: /AUTH_FAILED: target .*check the target's credentials: they came from IMGSYNC_DST_USERNAME/,
    secret: WRONG_PASSWORD,
  },
  {
    name: 'wrong password for the source',
    args: (c) => ['sync', 'repo', `${c.auth.host}/conc/app`, T(c)],
    env: () => ({ IMGSYNC_SRC_USERNAME: USER.username, IMGSYNC_SRC_PASSWORD: WRONG_PASSWORD }),
    code: 'AUTH_FAILED',
    exit: 1,
    says: /AUTH_FAILED: source .*check the source's credentials: they came from IMGSYNC_SRC_USERNAME/,
    secret: WRONG_PASSWORD,
  },
  {
    name: 'no credentials for an htpasswd registry',
    args: (c) => ['sync', 'tag', ok(c), `${c.auth.host}/team/app`],
    env: (c) => ({ DOCKER_CONFIG: join(c.dir, 'empty-docker') }),
    code: 'AUTH_FAILED',
    exit: 1,
    says: /needs a username and password|credentials/,
  },
  {
    name: 'malformed docker config',
    args: (c) => ['sync', 'tag', ok(c), `${c.auth.host}/team/app`],
    env: (c) => ({ DOCKER_CONFIG: join(c.dir, 'bad-docker') }),
    code: 'CONFIG_INVALID',
    exit: 1,
    says: /config\.json is not valid JSON \(fix the file, or run docker login again\)/,
  },
  {
    name: 'docker config naming a missing credential helper',
    args: (c) => ['sync', 'tag', ok(c), `${c.auth.host}/team/app`],
    env: (c) => ({ DOCKER_CONFIG: join(c.dir, 'helper-docker') }),
    code: 'AUTH_FAILED',
    exit: 1,
    says: /docker-credential-imgsync-no-such-helper/,
  },
  {
    name: '--authfile that does not exist',
    args: (c) => ['sync', 'tag', ok(c), `${c.auth.host}/team/app`, '--authfile', join(c.dir, 'nope.json')],
    code: 'CONFIG_INVALID',
    exit: 1,
    says: /cannot read the docker config .*check the path given to --authfile/,
    needs: { command: 'sync tag', flag: '--authfile' },
  },
  // ---- registries
  {
    name: 'unreachable source port',
    args: (c) => ['sync', 'tag', `${c.unreachable}/app:1`, T(c)],
    code: 'NETWORK',
    exit: 1,
    says: /cannot connect \(ECONNREFUSED\).*check that .* is the right host and port/,
  },
  {
    name: 'source is not a registry (404 server)',
    args: (c) => ['sync', 'tag', `${c.notRegistry}/app:1`, T(c)],
    code: 'REGISTRY_ERROR',
    exit: 1,
    says: /does not look like an OCI registry.*check the host and port/,
  },
  {
    name: 'https to a plain-HTTP registry (--src-ca)',
    args: (c) => ['sync', 'tag', ok(c), T(c), '--src-ca', TEST_TLS.caFile],
    code: 'TLS',
    exit: 1,
    says: /it answers plain HTTP \(leave out its CA .*--src-plain-http/,
    needs: { command: 'sync tag', flag: '--src-ca' },
  },
  {
    name: 'TLS registry with an unknown CA',
    args: (c) => ['sync', 'tag', `${c.tls.host}/conc/app:1.0`, T(c)],
    code: 'TLS',
    exit: 1,
    says: /TLS handshake failed.*CA/,
  },
  {
    name: 'TLS registry with the wrong CA file',
    args: (c) => ['sync', 'tag', `${c.tls.host}/conc/app:1.0`, T(c), '--src-ca', TEST_TLS.certFile],
    code: 'TLS',
    exit: 1,
    says: /TLS handshake failed/,
    needs: { command: 'sync tag', flag: '--src-ca' },
  },
  {
    name: 'CA file that does not exist',
    args: (c) => ['sync', 'tag', ok(c), T(c), '--src-ca', join(c.dir, 'no-ca.pem')],
    code: 'INVALID_ARGUMENT',
    exit: 2,
    says: /--src-ca: cannot read .*no-ca\.pem/,
    needs: { command: 'sync tag', flag: '--src-ca' },
  },
  {
    name: 'missing source repository',
    args: (c) => ['sync', 'repo', `${R(c)}/does/not/exist`, T(c)],
    code: 'NOT_FOUND',
    exit: 1,
    says: /does\/not\/exist.*(not found|check)/,
  },
  {
    name: 'missing source tag',
    args: (c) => ['sync', 'tag', `${R(c)}/conc/app:nope`, T(c)],
    code: 'NOT_FOUND',
    exit: 1,
    says: /not found \(check the repository and tag at the source\)/,
  },
  {
    name: 'target registry without create-on-push',
    args: (c) => ['sync', 'tag', ok(c), `${c.noCreate.host}/untouched/refused`],
    code: 'NOT_FOUND',
    exit: 1,
    says: /does not create it on push.*\(create the repository/,
  },
  {
    name: 'rule on a registry without a catalog',
    args: (c) => ['rule', 'trigger', 'nocat', '-c', c.rules],
    code: 'CATALOG_UNAVAILABLE',
    exit: 1,
    says: /list the repositories in the rule/,
    file: (c) => c.rules,
  },
]

let ctx: Ctx
const servers: http.Server[] = []
const helps = new Map<string, string>()
let before: Record<string, string>

async function serve(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler)
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** repo:tag → digest of everything a registry holds, to prove nothing changed. */
async function contents(base: string, auth?: typeof USER): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const repo of await catalog(base, auth)) {
    for (const tag of await listTags(base, repo, auth))
      out[`${repo}:${tag}`] = (await getManifest(base, repo, tag, auth)).digest
  }
  return out
}

beforeAll(async () => {
  const [reg, auth, tls] = await Promise.all([
    startRegistry(),
    startRegistry({ htpasswd: [USER] }),
    startRegistry({ tls: { certFile: TEST_TLS.certFile, keyFile: TEST_TLS.keyFile } }),
  ])
  const dir = await mkdtemp(join(tmpdir(), 'imgsync-bad-input-'))
  // the TLS registry stays empty: its rows fail at the handshake
  await Promise.all([pushImage(reg.url, 'conc/app', '1.0'), pushImage(auth.url, 'conc/app', '1.0', USER)])
  const notRegistry = await serve((_req, res) => {
    res.writeHead(404, { 'content-type': 'text/plain' })
    res.end('404 page not found\n')
  })
  const noCatalog = await serve((req, res) => {
    res.writeHead(req.url === '/v2/' ? 200 : 404, { 'content-type': 'application/json' })
    res.end(req.url === '/v2/' ? '{}' : '{"errors":[{"code":"UNSUPPORTED","message":"no catalog"}]}')
  })
  const noCreate = await startFaultProxy({
    upstream: reg.url,
    rules: [
      {
        method: 'POST',
        path: uploadPath('untouched/refused'),
        fault: {
          kind: 'status',
          status: 404,
          body: JSON.stringify({
            errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry' }],
          }),
        },
      },
    ],
  })
  // docker configs: empty, malformed, and one naming a credential helper that is not installed
  for (const [name, text] of [
    ['empty-docker', '{}'],
    ['bad-docker', '{"auths": {not json'],
    ['helper-docker', JSON.stringify({ credHelpers: { [auth.host]: 'imgsync-no-such-helper' } })],
  ] as const) {
    await mkdir(join(dir, name))
    await writeFile(join(dir, name, 'config.json'), text)
  }
  const badDir = join(dir, 'bad-input')
  await mkdir(badDir)
  for (const f of await readdir(FIXTURES))
    if (f.endsWith('.yaml')) await copyFile(join(FIXTURES, f), join(badDir, f))
  const rules = join(dir, 'rules.yaml')
  await writeFile(
    rules,
    [
      'version: 1',
      'registries:',
      `  reg: { host: "${reg.host}" }`,
      `  nocat: { host: "${noCatalog}" }`,
      'rules:',
      '  - name: on',
      '    source: { registry: reg, namespace: conc, repositories: [app] }',
      '    target: { registry: reg, namespace: untouched/on }',
      '  - name: off',
      '    enabled: false',
      '    source: { registry: reg, namespace: conc }',
      '    target: { registry: reg, namespace: untouched/off }',
      '  - name: nocat',
      '    source: { registry: nocat, namespace: "" }',
      '    target: { registry: reg, namespace: untouched/nocat }',
      '',
    ].join('\n'),
  )
  ctx = {
    reg,
    auth,
    tls,
    notRegistry,
    noCatalog,
    // a port below 1024 that nothing here listens on: a freed ephemeral one may be taken again
    unreachable: '127.0.0.1:1',
    noCreate,
    dir,
    rules,
    bad: (name) => join(badDir, name),
  }
  for (const command of ['sync tag', 'sync repo']) {
    const res = await runImgsync([...command.split(' '), '--help'])
    helps.set(command, res.stdout)
  }
  before = await contents(reg.url)
})

afterAll(async () => {
  await ctx?.noCreate.close()
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
  await Promise.all([ctx?.reg.stop(), ctx?.auth.stop(), ctx?.tls.stop()])
  if (ctx?.dir) await rm(ctx.dir, { recursive: true, force: true })
})

const STACK = /^\s+at .+(:\d+:\d+\)?|\(native\))$/m

describe.concurrent('bad input', () => {
  it('has at least 50 rows', () => {
    expect(rows.length).toBeGreaterThanOrEqual(50)
    expect(new Set(rows.map((r) => r.name)).size).toBe(rows.length)
  })

  it.for(rows)('$name', async (row, { skip }) => {
    const c = ctx
    if (row.needs && !helps.get(row.needs.command)?.includes(row.needs.flag)) {
      skip(`${row.needs.command} has no ${row.needs.flag} yet`)
      return
    }
    const records = join(c.dir, `records-${rows.indexOf(row)}.jsonl`)
    const file = row.file?.(c)
    const bytes = file ? await readFile(file) : undefined
    const res: RunResult = await runImgsync(row.args(c), {
      env: {
        // what users see: oclif adds a development warning when NODE_ENV is test (as vitest sets it)
        NODE_ENV: 'production',
        IMGSYNC_RECORDS: records,
        IMGSYNC_LOCK_DIR: join(c.dir, 'locks'),
        // keep the developer's own docker login out of it
        DOCKER_CONFIG: join(c.dir, 'empty-docker'),
        ...row.env?.(c),
      },
      timeoutMs: 30_000,
    })
    const lines = res.stderr.split('\n').filter((l) => l.trim() !== '')
    const all = `exit ${res.code}\n${res.stderr}${res.stdout}`
    expect(res.code, all).toBe(row.exit)
    expect(res.stderr, all).not.toMatch(STACK)
    expect(res.stderr, all).not.toMatch(/›\s+Error|Error: |\bat Object\./)
    // one line carries the code and says what happened and what to do
    const coded = lines.filter((l) => new RegExp(`\\b${row.code}\\b`).test(l))
    expect(coded, all).toHaveLength(1)
    expect(coded[0], all).toMatch(row.says)
    if (row.exit === 2) {
      // a usage error is that one line, and nothing ran: no records
      expect(lines, all).toHaveLength(1)
      expect(lines[0], all).toMatch(new RegExp(`^imgsync: error ${row.code}: `))
      await expect(stat(records)).rejects.toThrow()
    } else {
      // a failed item or task: its line, plus the task summary (and `rule NAME` above it) at most
      expect(lines.length, all).toBeLessThanOrEqual(3)
      for (const l of lines.filter((x) => x !== coded[0]))
        expect(l, all).toMatch(/^(rule \S+|(failed|partial): \d+ synced)/)
    }
    if (row.secret) expect(all).not.toContain(row.secret)
    if (file && bytes) expect((await readFile(file)).equals(bytes), `${file} changed`).toBe(true)
  })
})

describe('after the corpus', () => {
  it('left every target untouched and consistent', async () => {
    expect(await contents(ctx.reg.url)).toEqual(before)
    const report = await checkGraph(ctx.reg.url)
    expect(report.dangling, describeDangling(report.dangling)).toEqual([])
    expect(await catalog(ctx.auth.url, USER)).toEqual(['conc/app'])
  })
})
