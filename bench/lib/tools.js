// How the bench invokes each tool: imgsync (a rule, or one tag), skopeo (sync, or copy of one
// image) and, for the large layer, the raw limit of curl piped into curl.
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { NODE } from './bench.js'
import { measure } from './measure.js'
import { ROOT } from './options.js'

/** The imgsync rule file of `target` that syncs `namespace` from the source; created once per target. */
export async function imgsyncRuleFile(bench, target, namespace) {
  target.rules ??= {}
  if (!target.rules[namespace]) {
    const file = join(target.dir, `imgsync-${namespace}.yaml`)
    const r = await measure(
      NODE,
      [
        bench.o.bin,
        'rule',
        'create',
        'bench',
        '--source-registry',
        target.srcHost,
        '--source-namespace',
        namespace,
        '--target-registry',
        target.host,
        '-c',
        file,
      ],
      { cwd: ROOT, tmp: bench.work, env: { NO_COLOR: '1' } },
    )
    if (r.code !== 0) throw new Error(`imgsync rule create failed (exit ${r.code}): ${r.stderr}`)
    target.rules[namespace] = file
  }
  return target.rules[namespace]
}

/**
 * `imgsync rule trigger` of a rule covering `namespace`; adds the task's item counts to the run.
 * `--full-check` makes imgsync ask the target for every tag instead of trusting remembered ones.
 */
export async function imgsyncRule(bench, target, namespace, extraArgs = []) {
  const ruleFile = await imgsyncRuleFile(bench, target, namespace)
  const records = join(target.dir, `records-${Date.now()}-${Math.random().toString(36).slice(2)}.jsonl`)
  const run = await bench.timed(
    'imgsync',
    target,
    NODE,
    [
      bench.o.bin,
      'rule',
      'trigger',
      'bench',
      '-c',
      ruleFile,
      '--concurrency',
      String(bench.o.concurrency),
      ...extraArgs,
    ],
    {
      IMGSYNC_RECORDS: records,
      IMGSYNC_LOCK_DIR: join(target.dir, 'locks'),
    },
  )
  const tasks = (await readFile(records, 'utf8').catch(() => ''))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((r) => r.type === 'task' && r.status !== 'running')
  const task = tasks.at(-1)
  if (task) run.items = { synced: task.synced, skipped: task.skipped, failed: task.failed }
  await rm(records, { force: true })
  return run
}

/** `skopeo sync --all --preserve-digests` of every repository of `corpus`, from a YAML source. */
export async function skopeoSync(bench, target, corpus) {
  const file = join(target.dir, `skopeo-${corpus.namespace}.yaml`)
  const lines = [`${target.srcHost}:`, '  tls-verify: false', '  images:']
  for (const r of corpus.repositories) lines.push(`    ${r.name}: []`)
  await writeFile(file, `${lines.join('\n')}\n`)
  return bench.timed('skopeo', target, 'skopeo', [
    'sync',
    '--all',
    '--preserve-digests',
    '--src',
    'yaml',
    '--dest',
    'docker',
    '--dest-tls-verify=false',
    '--src-no-creds',
    '--dest-no-creds',
    file,
    // with a YAML source, skopeo puts each image at DESTINATION/<last path component>
    `${target.host}/${corpus.namespace}`,
  ])
}

/** One image (`repo:v1`) copied by `tool`: imgsync sync tag, skopeo copy, or curl piped into curl. */
export async function copyBig(bench, tool, target, image, repo) {
  const srcRef = `${target.srcHost}/${repo}:v1`
  if (tool === 'imgsync') {
    return bench.timed(
      'imgsync',
      target,
      NODE,
      [
        bench.o.bin,
        'sync',
        'tag',
        srcRef,
        `${target.host}/${repo}`,
        '--concurrency',
        String(bench.o.concurrency),
      ],
      {
        IMGSYNC_RECORDS: join(target.dir, 'records.jsonl'),
      },
    )
  }
  if (tool === 'skopeo') {
    return bench.timed('skopeo', target, 'skopeo', [
      'copy',
      '--all',
      '--preserve-digests',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      '--src-no-creds',
      '--dest-no-creds',
      `docker://${srcRef}`,
      `docker://${target.host}/${repo}:v1`,
    ])
  }
  // the raw limit: one streamed GET piped into one streamed upload (POST, then PUT from stdin); direct
  // to the source registry, so not for a target behind a link
  if (target.srcProxy) throw new Error('the curl copy goes straight to the source: not over a link')
  const script = [
    'set -euo pipefail',
    'loc=$(curl -sSf -o /dev/null -w "%header{location}" -X POST "$DST/v2/$REPO/blobs/uploads/")',
    'curl -sSf "$SRC/v2/$REPO/blobs/$DIGEST" | curl -sSf -o /dev/null -H "Expect:" -H "Content-Type: application/octet-stream" -T - "$loc&digest=$DIGEST"',
  ].join('\n')
  return bench.timed('curl', target, 'bash', ['-c', script], {
    SRC: bench.src.url,
    DST: `http://${target.host}`,
    REPO: repo,
    DIGEST: image.layer,
  })
}

/** Checks the layer (and, for the tools that copy a manifest, the manifest) arrived whole. */
export async function verifyBig(bench, tool, target, image, repo, run, what) {
  if (!run.ok) return bench.fail(what, run)
  const size = await target.client.headBlob(repo, image.layer)
  if (size !== image.size) return bench.fail(what, run, `layer missing or wrong size at the target: ${size}`)
  if (tool !== 'curl' && (await target.client.headManifest(repo, 'v1')) !== image.manifest)
    bench.fail(what, run, 'manifest missing or different at the target')
}
