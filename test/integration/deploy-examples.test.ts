// biome-ignore-all lint/suspicious/noTemplateCurlyInString: rule files and shell scripts use ${VAR} literally
// The deployment examples under deploy/ must keep working as imgsync changes: every YAML file
// parses, and every imgsync command they contain runs through the real CLI, as written.
//
// Each Kubernetes container, the Containerfile's default command and each GitHub Actions step that
// calls imgsync runs as it would in production (shell scripts included), with:
// - `node` and `imgsync` on PATH replaced by a shim that runs bin/run.js (the image's
//   `node /app/bin/run.js`). The shim changes no flag or argument; it only maps container paths to
//   temp directories that stand for the pod's volumes (ConfigMap files, emptyDirs,
//   PersistentVolumeClaims shared between pods) and `0.0.0.0:PORT` to a free loopback port, and it
//   logs each invocation with its exit code;
// - the ConfigMap's rule file with its registry hosts pointed at two loopback registries;
// - Secret-sourced env vars set to dummy values, and Kubernetes' $(VAR) expansion in command/args/env,
//   JOB_COMPLETION_INDEX 0..completions-1 for Indexed Jobs (their pods run concurrently).
// A renamed command or flag makes imgsync exit 2 and the example fails here.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join, relative } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseAllDocuments, parseDocument } from 'yaml'
import { BIN, type CliProcess, REPO_ROOT, runImgsync, startCommand } from '../harness/cli.js'
import { pushImage } from '../harness/fixtures.js'
import { freePort, type RunningRegistry, startRegistry } from '../harness/registry.js'

const DEPLOY = join(REPO_ROOT, 'deploy')
const CONTAINERFILE = join(DEPLOY, 'Containerfile')
const WORKFLOW = join(DEPLOY, 'github-actions', 'sync.yml')
/** Where the workflow expects the rule file: the root of the repository it runs in. */
const WORKFLOW_RULE_FILE = 'imgsync.yaml'

// ---- YAML files ------------------------------------------------------------------------------------

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? yamlFiles(join(dir, e.name)) : /\.ya?ml$/.test(e.name) ? [join(dir, e.name)] : [],
    )
    .sort()
}

const parsed = yamlFiles(DEPLOY).map((file) => ({
  file,
  name: relative(DEPLOY, file),
  docs: Array.from(parseAllDocuments(readFileSync(file, 'utf8'))),
}))

function problems(p: (typeof parsed)[number]): string[] {
  return p.docs.flatMap((d) => [...d.errors, ...d.warnings].map((e) => `${p.name}: ${e.message}`))
}

function contents(p: (typeof parsed)[number]): unknown[] {
  return problems(p).length > 0 ? [] : p.docs.map((d) => d.toJS()).filter((v) => v !== null)
}

// ---- Kubernetes objects ----------------------------------------------------------------------------

type Dict = Record<string, string>

interface EnvVar {
  name: string
  value?: string
  valueFrom?: {
    secretKeyRef?: { name: string; key: string }
    configMapKeyRef?: { name: string; key: string }
    fieldRef?: { fieldPath: string }
  }
}
interface Probe {
  httpGet?: { path?: string; port?: number | string }
}
interface Container {
  name: string
  image: string
  command?: string[]
  args?: string[]
  env?: EnvVar[]
  envFrom?: unknown[]
  ports?: { name?: string; containerPort: number }[]
  volumeMounts?: { name: string; mountPath: string; subPath?: string }[]
  readinessProbe?: Probe
  livenessProbe?: Probe
}
interface Volume {
  name: string
  configMap?: { name: string; items?: { key: string; path: string }[] }
  persistentVolumeClaim?: { claimName: string }
  emptyDir?: unknown
}
interface PodTemplate {
  metadata?: { labels?: Dict; annotations?: Dict }
  spec: { containers: Container[]; initContainers?: Container[]; volumes?: Volume[] }
}
interface K8sObject {
  apiVersion: string
  kind: string
  metadata: { name: string; labels?: Dict; annotations?: Dict }
  // biome-ignore lint/suspicious/noExplicitAny: manifests are free-form; each check reads the fields it needs
  spec?: any
  data?: Dict
}

const k8s = parsed
  .filter((p) => p.name.startsWith('kubernetes/'))
  .flatMap((p) => contents(p).map((o) => ({ file: p.name, object: o as K8sObject })))

function podTemplateOf(o: K8sObject): PodTemplate | undefined {
  if (o.kind === 'CronJob') return o.spec?.jobTemplate?.spec?.template
  if (['Job', 'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet'].includes(o.kind))
    return o.spec?.template
  if (o.kind === 'Pod') return { metadata: o.metadata, spec: o.spec }
  return undefined
}

const workloads = k8s.flatMap(({ file, object }) => {
  const template = podTemplateOf(object)
  if (!template) return []
  const containers = [...(template.spec.initContainers ?? []), ...template.spec.containers]
  return containers
    .filter((c) => c.image.includes('imgsync'))
    .map((container) => ({
      file,
      object,
      template,
      container,
      label: `${file} ${object.kind}/${object.metadata.name} container ${container.name}`,
    }))
})
type Workload = (typeof workloads)[number]

const objectsOf = (kind: string) => k8s.map((k) => k.object).filter((o) => o.kind === kind)

// ---- Containerfile ---------------------------------------------------------------------------------

interface Instruction {
  keyword: string
  rest: string
}

/** Instructions per stage; continuation lines joined, comments dropped. */
function parseContainerfile(text: string): Instruction[][] {
  const logical: string[] = []
  let current = ''
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (current === '' && (line === '' || line.startsWith('#'))) continue
    if (line.endsWith('\\')) current += `${line.slice(0, -1)} `
    else {
      logical.push(current + line)
      current = ''
    }
  }
  const stages: Instruction[][] = []
  for (const l of logical) {
    const m = /^(\S+)\s+(.*)$/.exec(l)
    if (!m) throw new Error(`Containerfile: cannot read "${l}"`)
    const ins = { keyword: m[1]!.toUpperCase(), rest: m[2]!.trim() }
    if (ins.keyword === 'FROM') stages.push([])
    if (stages.length === 0) throw new Error(`Containerfile: ${ins.keyword} before FROM`)
    stages.at(-1)!.push(ins)
  }
  return stages
}

const stages = parseContainerfile(readFileSync(CONTAINERFILE, 'utf8'))
const runtime = stages.at(-1)!
const lastOf = (keyword: string) => runtime.filter((i) => i.keyword === keyword).at(-1)?.rest

function execForm(keyword: string): string[] {
  const rest = lastOf(keyword)
  if (rest === undefined) throw new Error(`Containerfile: the runtime stage has no ${keyword}`)
  const value: unknown = JSON.parse(rest)
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
    throw new Error(`Containerfile: ${keyword} must be exec form (a JSON array of strings)`)
  return value
}

const image = {
  entrypoint: execForm('ENTRYPOINT'),
  cmd: execForm('CMD'),
  workdir: lastOf('WORKDIR') ?? '/',
  env: Object.fromEntries(
    runtime
      .filter((i) => i.keyword === 'ENV')
      .flatMap((i) =>
        i.rest.includes('=')
          ? i.rest.split(/\s+/).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])
          : [[i.rest.split(/\s+/)[0]!, i.rest.split(/\s+/).slice(1).join(' ')]],
      ),
  ) as Dict,
  volumes: runtime
    .filter((i) => i.keyword === 'VOLUME')
    .flatMap((i) => (i.rest.startsWith('[') ? (JSON.parse(i.rest) as string[]) : i.rest.split(/\s+/))),
}

// ---- GitHub Actions workflow -----------------------------------------------------------------------

interface Step {
  name?: string
  uses?: string
  run?: string
  if?: string
  env?: Dict
  with?: Dict
  'working-directory'?: string
}
interface Workflow {
  on: { schedule?: { cron: string }[]; workflow_dispatch?: unknown }
  jobs: Record<string, { env?: Dict; steps: Step[] }>
}

const workflowParsed = parsed.find((p) => p.file === WORKFLOW)
const workflow = (workflowParsed ? contents(workflowParsed)[0] : undefined) as Workflow | undefined

/** How many times a shell script calls imgsync (as `imgsync` or the image's `node /app/bin/run.js`). */
function imgsyncCalls(script: string): number {
  const code = script
    .split('\n')
    .map((line) => line.replace(/(^|\s)#.*$/, ''))
    .join('\n')
  return [...code.matchAll(/(?:^|[\s;&|(`])(?:imgsync|node \/app\/bin\/run\.js)(?=\s|$)/gm)].length
}
const callsImgsync = (script: string) => imgsyncCalls(script) > 0

/** GitHub evaluates ${{ }} before the shell runs: secrets become dummy values here. */
function githubValue(value: unknown, where: string): string {
  return String(value).replace(/\$\{\{\s*([^}]*?)\s*\}\}/g, (_, expr: string) => {
    const secret = /^secrets\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(expr)
    if (secret) return `secret-${secret[1]}`
    if (/^(env|github|inputs|vars)\./.test(expr)) return `expr-${expr}`
    throw new Error(`${where}: unsupported expression \${{ ${expr} }}`)
  })
}

// ---- the rule file ---------------------------------------------------------------------------------

interface RuleFileShape {
  version?: unknown
  registries?: Record<string, { host?: string }>
  rules?: { name: string; source: { registry: string; namespace?: string; repositories?: unknown } }[]
}

function asRuleFile(text: string): RuleFileShape | undefined {
  try {
    const v = parseDocument(text).toJS() as RuleFileShape | null
    return v && typeof v === 'object' && v.version !== undefined && Array.isArray(v.rules) ? v : undefined
  } catch {
    return undefined
  }
}

/** The ConfigMap key that holds a rule file. */
const ruleFileEntry = objectsOf('ConfigMap')
  .flatMap((cm) => Object.entries(cm.data ?? {}).map(([key, text]) => ({ cm, key, text })))
  .find((e) => asRuleFile(e.text) !== undefined)

/** ${NAME} references of the rule file ($${ is a literal). */
function envReferences(text: string): string[] {
  return [...new Set([...text.matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]!))].sort()
}

// ---- running commands like a pod / a runner does ---------------------------------------------------

// Runs imgsync for `node /app/bin/run.js ARGS` (the image) or `imgsync ARGS` (a global install).
const SHIM = `import { spawn } from 'node:child_process'
import { appendFileSync } from 'node:fs'
const [kind, ...rest] = process.argv.slice(2)
const env = { ...process.env }
const take = (name) => { const v = env[name]; delete env[name]; return v }
const bin = take('IMGSYNC_TEST_BIN')
const log = take('IMGSYNC_TEST_LOG')
const root = take('IMGSYNC_TEST_ROOT') || ''
const port = take('IMGSYNC_TEST_PORT') || ''
const mounts = JSON.parse(take('IMGSYNC_TEST_MOUNTS') || '[]')
const containerEnv = JSON.parse(take('IMGSYNC_TEST_CONTAINER_ENV') || '[]')
function fail(message) {
  process.stderr.write('deploy-examples shim: ' + message + '\\n')
  appendFileSync(log, JSON.stringify({ argv: rest, error: message, code: 97 }) + '\\n')
  process.exit(97)
}
if (kind === 'node' && rest[0] !== '/app/bin/run.js')
  fail('node ' + rest.join(' ') + ': the image runs imgsync as node /app/bin/run.js')
const args = kind === 'node' ? rest.slice(1) : rest
function mapPath(p) {
  for (const [inside, outside] of mounts)
    if (p === inside || p.startsWith(inside + '/')) return outside + p.slice(inside.length)
  return root && p.startsWith('/') ? root + p : p
}
function mapValue(v) {
  const listen = /^(?:0\\.0\\.0\\.0|\\[::\\]):\\d+$/.test(v)
  if (listen && !port) fail('listens on ' + v + ' but this run has no port')
  return listen ? '127.0.0.1:' + port : mapPath(v)
}
const mapArg = (a) => {
  const m = /^(--[^=]+=)(.*)$/.exec(a)
  return m ? m[1] + mapValue(m[2]) : mapValue(a)
}
for (const name of containerEnv) if (env[name] !== undefined) env[name] = mapValue(env[name])
const mapped = args.map(mapArg)
const child = spawn(process.execPath, [bin, ...mapped], { stdio: 'inherit', env })
for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, () => child.kill(s))
child.on('exit', (code, signal) => {
  const status = code ?? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGINT' ? 2 : 15)
  appendFileSync(log, JSON.stringify({ argv: args, mapped, code: status }) + '\\n')
  process.exit(status)
})
`

interface Invocation {
  argv: string[]
  mapped?: string[]
  code: number
  error?: string
}

interface Run {
  label: string
  argv: string[]
  /** the container's (or step's) environment, before the shim maps paths */
  env: Dict
  /** container path → host directory */
  mounts: [string, string][]
  /** stands for the container's own file system ('' for a CI runner: paths are real) */
  root: string
  cwd: string
  port?: number
}

interface Started {
  process: CliProcess
  exited: Promise<number>
  invocations: () => Promise<Invocation[]>
}

let tmp: string
let shimDir: string
let src: RunningRegistry
let dst: RunningRegistry
/** the rule file as the pods see it: the example, with its hosts pointed at the loopback registries */
let testRuleFile: string
const pvcDirs = new Map<string, string>()
const children = new Set<CliProcess>()
let started = 0

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function resolveCommand(cmd: string): string {
  if (cmd === 'node' || cmd === 'imgsync') return join(shimDir, cmd)
  const candidates = cmd.includes('/')
    ? [cmd]
    : (process.env.PATH ?? '').split(delimiter).map((d) => join(d, cmd))
  const found = candidates.find((c) => existsSync(c))
  if (!found) throw new Error(`cannot run ${cmd}: not found here`)
  return found
}

function start(run: Run): Started {
  const log = join(tmp, `invocations-${++started}.jsonl`)
  const [cmd, ...rest] = run.argv
  // only what the pod (or step) sets, not this machine's environment; in its own process group, so
  // that a SIGKILL also ends the imgsync a shell or the shim started
  const p = startCommand(resolveCommand(cmd!), rest, {
    cwd: run.cwd,
    inheritEnv: false,
    processGroup: true,
    env: {
      PATH: `${shimDir}${delimiter}${process.env.PATH ?? ''}`,
      HOME: join(run.root || tmp, 'home'),
      ...run.env,
      IMGSYNC_TEST_BIN: BIN,
      IMGSYNC_TEST_LOG: log,
      IMGSYNC_TEST_ROOT: run.root,
      IMGSYNC_TEST_PORT: run.port === undefined ? '' : String(run.port),
      IMGSYNC_TEST_MOUNTS: JSON.stringify([...run.mounts].sort((a, b) => b[0].length - a[0].length)),
      IMGSYNC_TEST_CONTAINER_ENV: JSON.stringify(Object.keys(run.env)),
    },
  })
  children.add(p)
  const exited = p.exited.then(
    ({ code, signal }) => {
      children.delete(p)
      return code ?? (signal === 'SIGKILL' ? 137 : 143)
    },
    (err) => {
      children.delete(p)
      throw err
    },
  )
  return {
    process: p,
    exited,
    invocations: async () =>
      (await readFile(log, 'utf8').catch(() => ''))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Invocation),
  }
}

async function runToEnd(run: Run, timeoutMs = 60_000) {
  const s = start(run)
  const timer = setTimeout(() => s.process.killGroup('SIGKILL'), timeoutMs)
  const code = await s.exited
  clearTimeout(timer)
  return { code, output: s.process.output(), invocations: await s.invocations() }
}

function describeRun(run: Run, output: string, invocations: Invocation[]): string {
  const lines = invocations.map(
    (i) => `  imgsync ${i.argv.join(' ')} → exit ${i.code}${i.error ? ` (${i.error})` : ''}`,
  )
  return `${run.label}\n${lines.join('\n') || '  (imgsync never ran)'}\n--- output ---\n${output}`
}

/** Valid invocations exit 0, or 3 when the rule's filters selected nothing. */
function expectValid(
  run: Run,
  r: { code: number; output: string; invocations: Invocation[] },
  codes: number[],
) {
  const info = describeRun(run, r.output, r.invocations)
  // exec form: one invocation; a script: at least one per call it contains (none skipped)
  const expected = ['node', 'imgsync'].includes(run.argv[0]!) ? 1 : imgsyncCalls(run.argv.at(-1)!)
  expect(expected, `${run.label} does not call imgsync`).toBeGreaterThan(0)
  expect(r.invocations.length, `not every imgsync call ran:\n${info}`).toBeGreaterThanOrEqual(expected)
  for (const i of r.invocations) expect([0, 3], info).toContain(i.code)
  expect(codes, info).toContain(r.code)
}

async function getText(
  url: string,
  init?: RequestInit,
): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(url, init)
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() }
}

/** Starts serve, checks its endpoints and webhook token, reloads on SIGHUP, stops on SIGTERM (exit 0). */
async function checkServe(run: Run, webhookToken: string | undefined): Promise<void> {
  const s = start(run)
  const base = `http://127.0.0.1:${run.port}`
  let exitCode: number | undefined
  void s.exited.then((c) => {
    exitCode = c
  })
  try {
    for (let i = 0; ; i++) {
      const ok = await fetch(`${base}/healthz`)
        .then((r) => r.status === 200)
        .catch(() => false)
      if (ok) break
      if (exitCode !== undefined || i > 300)
        throw new Error(
          `serve did not become healthy:\n${describeRun(run, s.process.output(), await s.invocations())}`,
        )
      await sleep(100)
    }
    const metrics = await getText(`${base}/metrics`)
    expect(metrics.status).toBe(200)
    expect(metrics.type).toMatch(/^text\/plain/)
    expect(metrics.body).toMatch(/^# TYPE /m)

    const hook = `${base}/webhooks/distribution`
    const body = JSON.stringify({ events: [] })
    expect((await getText(hook, { method: 'POST', body })).status, 'webhook without a token').toBe(401)
    if (webhookToken !== undefined) {
      const headers = { authorization: `Bearer ${webhookToken}`, 'content-type': 'application/json' }
      expect((await getText(hook, { method: 'POST', body, headers })).status, 'webhook with the token').toBe(
        202,
      )
    }

    s.process.kill('SIGHUP')
    await s.process.waitForOutput(/reloaded/, 5_000)
    expect((await getText(`${base}/healthz`)).status).toBe(200)

    s.process.kill('SIGTERM')
    const timer = setTimeout(() => s.process.killGroup('SIGKILL'), 20_000)
    const code = await s.exited
    clearTimeout(timer)
    const invocations = await s.invocations()
    expect(code, describeRun(run, s.process.output(), invocations)).toBe(0)
    expect(invocations.map((i) => i.code)).toEqual([0])
  } finally {
    if (exitCode === undefined) s.process.killGroup('SIGKILL')
  }
}

// ---- pods ------------------------------------------------------------------------------------------

/** Kubernetes' $(VAR) expansion in command, args and env values; $$ escapes, unknown names stay. */
function expandK8s(text: string, env: Dict): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (all, name?: string) =>
    all === '$$' ? '$' : name !== undefined && env[name] !== undefined ? env[name]! : all,
  )
}

function secretEnv(w: Workload): Dict {
  const out: Dict = {}
  for (const e of w.container.env ?? []) if (e.valueFrom?.secretKeyRef) out[e.name] = `secret-${e.name}`
  return out
}

/** No command: the image's ENTRYPOINT; no args: its CMD, unless command replaced the ENTRYPOINT. */
function containerArgv(c: Container): string[] {
  return [...(c.command ?? image.entrypoint), ...(c.args ?? (c.command ? [] : image.cmd))]
}

async function podRun(w: Workload, podName: string, injected: Dict = {}, port?: number): Promise<Run> {
  const root = await mkdtemp(join(tmp, `pod-${podName}-`))
  const env: Dict = { ...image.env }
  for (const e of w.container.env ?? []) {
    if (e.value !== undefined) env[e.name] = expandK8s(e.value, env)
    else if (e.valueFrom?.secretKeyRef) env[e.name] = `secret-${e.name}`
    else if (e.valueFrom?.configMapKeyRef) {
      const ref = e.valueFrom.configMapKeyRef
      const cm = objectsOf('ConfigMap').find((c) => c.metadata.name === ref.name)
      env[e.name] = cm?.data?.[ref.key] ?? ''
    } else if (e.valueFrom?.fieldRef) env[e.name] = `field-${e.valueFrom.fieldRef.fieldPath}`
    else throw new Error(`${w.label}: env ${e.name} has no value this test understands`)
  }
  // the Job controller adds JOB_COMPLETION_INDEX after the container's own variables
  Object.assign(env, injected)

  const mounts: [string, string][] = []
  for (const m of w.container.volumeMounts ?? []) {
    const volume = w.template.spec.volumes?.find((v) => v.name === m.name)
    if (!volume) throw new Error(`${w.label}: volumeMount ${m.name} has no volume`)
    let dir: string
    if (volume.configMap) {
      const ref = volume.configMap
      const cm = objectsOf('ConfigMap').find((c) => c.metadata.name === ref.name)
      if (!cm) throw new Error(`${w.label}: ConfigMap ${ref.name} is not defined under deploy/kubernetes`)
      dir = join(root, 'volumes', m.name)
      await mkdir(dir, { recursive: true })
      const items = ref.items ?? Object.keys(cm.data ?? {}).map((key) => ({ key, path: key }))
      for (const { key, path } of items) {
        const text = cm === ruleFileEntry?.cm && key === ruleFileEntry.key ? testRuleFile : cm.data?.[key]
        if (text === undefined) throw new Error(`${w.label}: ConfigMap ${ref.name} has no key ${key}`)
        await mkdir(dirname(join(dir, path)), { recursive: true })
        await writeFile(join(dir, path), text)
      }
    } else if (volume.persistentVolumeClaim) {
      const claim = volume.persistentVolumeClaim.claimName
      if (!objectsOf('PersistentVolumeClaim').some((c) => c.metadata.name === claim))
        throw new Error(`${w.label}: PersistentVolumeClaim ${claim} is not defined under deploy/kubernetes`)
      if (!pvcDirs.has(claim)) pvcDirs.set(claim, await mkdtemp(join(tmp, `pvc-${claim}-`)))
      dir = pvcDirs.get(claim)!
    } else if (volume.emptyDir !== undefined) {
      dir = join(root, 'volumes', m.name)
      await mkdir(dir, { recursive: true })
    } else throw new Error(`${w.label}: volume ${volume.name} is of a kind this test does not simulate`)
    mounts.push([m.mountPath, m.subPath ? join(dir, m.subPath) : dir])
  }

  const cwd = join(root, image.workdir)
  await mkdir(cwd, { recursive: true })
  return {
    label: podName === '0' ? w.label : `${w.label} (pod ${podName})`,
    argv: containerArgv(w.container).map((a) => expandK8s(a, env)),
    env,
    mounts,
    root,
    cwd,
    port,
  }
}

// ---- setup -----------------------------------------------------------------------------------------

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'imgsync-deploy-'))
  shimDir = join(tmp, 'shims')
  await mkdir(shimDir)
  await writeFile(join(tmp, 'shim.mjs'), SHIM)
  for (const name of ['node', 'imgsync']) {
    const file = join(shimDir, name)
    await writeFile(file, `#!/bin/sh\nexec "${process.execPath}" "${join(tmp, 'shim.mjs')}" ${name} "$@"\n`)
    await chmod(file, 0o755)
  }

  src = await startRegistry()
  dst = await startRegistry()
  if (!ruleFileEntry) return
  const rules = asRuleFile(ruleFileEntry.text)!
  const sources = new Set(rules.rules!.map((r) => r.source.registry))
  const doc = parseDocument(ruleFileEntry.text)
  for (const [name, entry] of Object.entries(rules.registries ?? {}))
    if (entry.host !== undefined)
      doc.setIn(['registries', name, 'host'], sources.has(name) ? src.host : dst.host)
  testRuleFile = doc.toString()
  // something to copy for every repository a rule lists by name (the others come from the catalog)
  for (const rule of rules.rules!) {
    const listed = rule.source.repositories
    if (!Array.isArray(listed)) continue
    for (const repo of listed as string[])
      await pushImage(src.url, [rule.source.namespace, repo].filter(Boolean).join('/'), 'v1.0.0')
  }
})

afterAll(async () => {
  for (const c of children) c.killGroup('SIGKILL')
  await src?.stop()
  await dst?.stop()
  if (tmp) await rm(tmp, { recursive: true, force: true })
})

// ---- tests -----------------------------------------------------------------------------------------

describe('deploy/ YAML files', () => {
  it('exist for every example', () => {
    expect(parsed.map((p) => p.name)).toEqual(
      expect.arrayContaining([
        'github-actions/sync.yml',
        'kubernetes/configmap-example.yaml',
        'kubernetes/cronjob-rule.yaml',
        'kubernetes/indexed-job-shards.yaml',
        'kubernetes/serve-deployment.yaml',
      ]),
    )
  })

  it.each(parsed.map((p) => [p.name, p] as const))('%s: every document parses', (_, p) => {
    expect(problems(p)).toEqual([])
    expect(contents(p).length).toBeGreaterThan(0)
  })

  it('Kubernetes documents have apiVersion, kind and metadata.name', () => {
    for (const { file, object } of k8s) {
      expect(object.apiVersion, file).toEqual(expect.any(String))
      expect(object.kind, file).toEqual(expect.any(String))
      expect(object.metadata?.name, `${file} ${object.kind}`).toEqual(expect.any(String))
    }
  })
})

describe('the example rule file (ConfigMap)', () => {
  it('is accepted by imgsync with its ${VAR} credentials set, and has schedule, auto and manual rules', async () => {
    expect(ruleFileEntry, 'a ConfigMap under deploy/kubernetes holds a rule file').toBeDefined()
    const file = join(tmp, 'example-imgsync.yaml')
    await writeFile(file, ruleFileEntry!.text)
    const refs = envReferences(ruleFileEntry!.text)
    expect(refs.length, 'credentials come from ${VAR} references').toBeGreaterThan(0)
    const env = Object.fromEntries(refs.map((v) => [v, `value-of-${v}`]))
    const r = await runImgsync(['rule', 'list', '--config', file, '--json'], { env })
    expect(r.code, r.stderr).toBe(0)
    const listed = JSON.parse(r.stdout) as { rules: { name: string; trigger: { type: string } }[] }
    expect(new Set(listed.rules.map((x) => x.trigger.type))).toEqual(new Set(['schedule', 'auto', 'manual']))
  })

  it('every container and the workflow set each ${VAR} the rule file refers to', () => {
    const refs = envReferences(ruleFileEntry!.text)
    for (const w of workloads) {
      expect(w.container.envFrom, `${w.label}: list the variables one by one`).toBeUndefined()
      const names = (w.container.env ?? []).map((e) => e.name)
      for (const ref of refs) expect(names, `${w.label} sets ${ref}`).toContain(ref)
    }
    for (const [id, job] of Object.entries(workflow!.jobs)) {
      const steps = job.steps.filter((s) => s.run !== undefined && callsImgsync(s.run))
      for (const step of steps) {
        const names = Object.keys({ ...job.env, ...step.env })
        for (const ref of refs)
          expect(names, `workflow job ${id} step ${step.name} sets ${ref}`).toContain(ref)
      }
    }
  })
})

describe('Kubernetes examples', () => {
  it('have a CronJob, an Indexed Job and a Deployment running imgsync', () => {
    const kinds = workloads.map((w) => w.object.kind)
    expect(kinds).toEqual(expect.arrayContaining(['CronJob', 'Job', 'Deployment']))
    expect(workloads.some((w) => w.object.kind === 'Job' && w.object.spec.completionMode === 'Indexed')).toBe(
      true,
    )
  })

  it('a CronJob per scheduled rule: Forbid overlap, same cron and time zone as the rule', async () => {
    const rules = asRuleFile(ruleFileEntry!.text)!.rules as unknown as {
      name: string
      trigger?: { type: string; cron?: string; timezone?: string }
    }[]
    for (const w of workloads.filter((x) => x.object.kind === 'CronJob')) {
      expect(w.object.spec.concurrencyPolicy, w.label).toBe('Forbid')
      const ruleName = w.object.metadata.labels?.['imgsync/rule']
      expect(ruleName, `${w.label}: label imgsync/rule names the rule`).toBeDefined()
      const rule = rules.find((r) => r.name === ruleName)
      expect(rule, `${w.label}: rule ${ruleName} is in the example rule file`).toBeDefined()
      expect(rule!.trigger?.type).toBe('schedule')
      expect(w.object.spec.schedule, w.label).toBe(rule!.trigger?.cron)
      expect(w.object.spec.timeZone, w.label).toBe(rule!.trigger?.timezone)
      expect((await podRun(w, 'static')).argv, w.label).toContain(ruleName)
    }
  })

  it('CronJob and plain Job pods run imgsync successfully', async () => {
    const jobs = workloads.filter(
      (w) =>
        w.object.kind === 'CronJob' ||
        (w.object.kind === 'Job' && w.object.spec.completionMode !== 'Indexed'),
    )
    expect(jobs.length).toBeGreaterThan(0)
    for (const w of jobs) {
      const run = await podRun(w, '0')
      const direct = ['node', 'imgsync'].includes(run.argv[0]!)
      expectValid(run, await runToEnd(run), direct ? [0, 3] : [0])
    }
  })

  it('Indexed Job pods, run at once with JOB_COMPLETION_INDEX 0..n-1, each run their own shard', async () => {
    const indexed = workloads.filter(
      (w) => w.object.kind === 'Job' && w.object.spec.completionMode === 'Indexed',
    )
    expect(indexed.length).toBeGreaterThan(0)
    for (const w of indexed) {
      const n = w.object.spec.completions as number
      expect(w.object.spec.parallelism, w.label).toBe(n)
      const runs = await Promise.all(
        Array.from({ length: n }, (_, i) => podRun(w, String(i), { JOB_COMPLETION_INDEX: String(i) })),
      )
      const results = await Promise.all(runs.map((run) => runToEnd(run)))
      const direct = ['node', 'imgsync'].includes(runs[0]!.argv[0]!)
      results.forEach((r, i) => {
        expectValid(runs[i]!, r, direct ? [0, 3] : [0])
        const shard = `${i}/${n}`
        const args = r.invocations.flatMap((x) => x.argv)
        expect(
          args.includes(shard) || args.includes(`--shard=${shard}`),
          `pod ${i} runs shard ${shard}`,
        ).toBe(true)
      })
    }
  })

  it('serve: port "http", probes on /healthz, Prometheus annotations, webhook token from a Secret', () => {
    const served = workloads.filter((w) => w.object.kind === 'Deployment')
    expect(served.length).toBeGreaterThan(0)
    for (const w of served) {
      const http = w.container.ports?.find((p) => p.name === 'http')
      expect(http, `${w.label}: a port named http`).toBeDefined()
      const port = http!.containerPort
      const argv = containerArgv(w.container)
      expect(argv.includes(`0.0.0.0:${port}`) || argv.includes(`--listen=0.0.0.0:${port}`), w.label).toBe(
        true,
      )
      for (const probe of [w.container.readinessProbe, w.container.livenessProbe]) {
        expect(probe?.httpGet?.path, w.label).toBe('/healthz')
        expect(['http', port], w.label).toContain(probe?.httpGet?.port)
      }
      const annotations = w.template.metadata?.annotations ?? {}
      expect(annotations['prometheus.io/scrape'], w.label).toBe('true')
      expect(annotations['prometheus.io/port'], w.label).toBe(String(port))
      expect(annotations['prometheus.io/path'], w.label).toBe('/metrics')
      const token = w.container.env?.find((e) => e.name === 'IMGSYNC_WEBHOOK_TOKEN')
      expect(token?.valueFrom?.secretKeyRef, `${w.label}: IMGSYNC_WEBHOOK_TOKEN from a Secret`).toBeDefined()
      const labels = w.template.metadata?.labels ?? {}
      const service = objectsOf('Service').find((s) =>
        Object.entries((s.spec?.selector ?? {}) as Dict).every(([k, v]) => labels[k] === v),
      )
      expect(service, `${w.label}: a Service selects the pods`).toBeDefined()
      expect(
        (service!.spec.ports as { targetPort?: number | string }[]).some((p) =>
          ['http', port].includes(p.targetPort ?? ''),
        ),
      ).toBe(true)
    }
  })

  it('serve Deployment pods start, answer /healthz and /metrics, reload on SIGHUP, exit 0 on SIGTERM', async () => {
    for (const w of workloads.filter((x) => x.object.kind === 'Deployment')) {
      const run = await podRun(w, '0', {}, await freePort())
      await checkServe(run, secretEnv(w).IMGSYNC_WEBHOOK_TOKEN)
    }
  })
})

describe('Containerfile', () => {
  it('builds in a node:20-slim stage and runs as a non-root user from node:20-slim', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2)
    for (const stage of stages) expect(stage[0]!.rest).toMatch(/(^|\/)node:20-slim(\s|$)/)
    const build = stages[0]!
    const runs = build
      .filter((i) => i.keyword === 'RUN')
      .map((i) => i.rest)
      .join(' && ')
    for (const step of ['npm ci', 'npm run build', 'npm prune --omit=dev']) expect(runs).toContain(step)
    // everything the build copies exists in the repository
    for (const copy of build.filter((i) => i.keyword === 'COPY')) {
      const parts = copy.rest.split(/\s+/).filter((p) => !p.startsWith('--'))
      for (const path of parts.slice(0, -1))
        expect(existsSync(join(REPO_ROOT, path)), `COPY ${path}`).toBe(true)
    }
    const copied = runtime
      .filter((i) => i.keyword === 'COPY')
      .map((i) => i.rest)
      .join('\n')
    for (const path of ['package.json', 'node_modules', 'bin', 'dist'])
      expect(copied).toContain(`/src/${path}`)
    const user = lastOf('USER')
    expect(user, 'USER in the runtime stage').toBeDefined()
    expect(user!.split(':')[0]).not.toMatch(/^(root|0)$/)
    expect(stages.flat().some((i) => i.keyword === 'HEALTHCHECK')).toBe(false)
    expect(image.entrypoint).toEqual(['node', '/app/bin/run.js'])
    expect(lastOf('EXPOSE')).toBe('8080')
  })

  it('the default command (ENTRYPOINT + CMD) serves with the example rule file mounted at /config', async () => {
    const root = await mkdtemp(join(tmp, 'container-'))
    const mounts: [string, string][] = []
    const config = join(root, 'volumes', 'config')
    await mkdir(config, { recursive: true })
    await writeFile(join(config, ruleFileEntry!.key), testRuleFile)
    mounts.push(['/config', config])
    for (const v of image.volumes) {
      const dir = join(root, 'volumes', v.replaceAll('/', '_'))
      await mkdir(dir, { recursive: true })
      mounts.push([v, dir])
    }
    const token = 'container-webhook-token'
    const env: Dict = { ...image.env, IMGSYNC_WEBHOOK_TOKEN: token }
    for (const ref of envReferences(ruleFileEntry!.text)) env[ref] = `secret-${ref}`
    const cwd = join(root, image.workdir)
    await mkdir(cwd, { recursive: true })
    const run: Run = {
      label: 'Containerfile ENTRYPOINT + CMD',
      argv: [...image.entrypoint, ...image.cmd],
      env,
      mounts,
      root,
      cwd,
      port: await freePort(),
    }
    await checkServe(run, token)
  })
})

describe('GitHub Actions workflow', () => {
  it('runs on a schedule and by hand, and uploads the records', () => {
    expect(workflow?.on.schedule?.[0]?.cron).toEqual(expect.any(String))
    expect(workflow?.on).toHaveProperty('workflow_dispatch')
    const steps = Object.values(workflow!.jobs).flatMap((j) => j.steps)
    const upload = steps.find((s) => s.uses?.startsWith('actions/upload-artifact@'))
    expect(upload?.with?.path).toMatch(/records/)
    expect(upload?.if).toBe('always()')
  })

  it('its imgsync steps run successfully with the example rule file in the checkout', async () => {
    const workspace = await mkdtemp(join(tmp, 'workspace-'))
    await writeFile(join(workspace, WORKFLOW_RULE_FILE), testRuleFile)
    const summary = join(tmp, 'step-summary.md')
    let ran = 0
    for (const [id, job] of Object.entries(workflow!.jobs)) {
      for (const [n, step] of job.steps.entries()) {
        if (step.run === undefined || !callsImgsync(step.run)) continue
        const where = `workflow job ${id} step ${step.name ?? n}`
        if (step.run.includes('${{')) throw new Error(`${where}: keep \${{ }} out of run scripts (use env)`)
        const env: Dict = { GITHUB_WORKSPACE: workspace, GITHUB_STEP_SUMMARY: summary }
        for (const [k, v] of Object.entries({ ...job.env, ...step.env })) env[k] = githubValue(v, where)
        const run: Run = {
          label: where,
          // GitHub's default shell on Linux runners
          argv: ['bash', '--noprofile', '--norc', '-eo', 'pipefail', '-c', step.run],
          env,
          mounts: [],
          root: '',
          cwd: join(workspace, step['working-directory'] ?? '.'),
        }
        expectValid(run, await runToEnd(run), [0])
        ran++
      }
    }
    expect(ran, 'steps that run imgsync').toBeGreaterThan(0)
  })
})
