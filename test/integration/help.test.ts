// `--help` of every command, as a user reads it: the ENVIRONMENT section lists exactly the variables
// that command reads, and every variable imgsync reads is in README "Environment variables" and in
// the help of the commands that read it.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ENVIRONMENT, environmentOf } from '../../src/cli/environment.js'
import { REPO_ROOT, runImgsync } from '../harness/cli.js'

const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'oclif.manifest.json'), 'utf8')) as {
  commands: Record<string, unknown>
}
const ids = Object.keys(manifest.commands)
const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8')
const settings = readFileSync(join(REPO_ROOT, 'src/cli/settings.ts'), 'utf8')

/** The variable names of a help text's ENVIRONMENT section. */
function environmentSection(help: string): string[] {
  const section = /(?:^|\n)ENVIRONMENT\n([\s\S]*?)(?:\n\n[A-Z]|\n*$)/.exec(help)?.[1] ?? ''
  return [...section.matchAll(/^ {2}([A-Z][A-Z0-9_]+)\s/gm)].map((m) => m[1]!)
}

describe('ENVIRONMENT in --help', () => {
  it('every command lists the variables it reads', async () => {
    expect(ids.length).toBeGreaterThanOrEqual(12)
    const helps = await Promise.all(ids.map((id) => runImgsync([...id.split(':'), '--help'])))
    ids.forEach((id, i) => {
      const res = helps[i]!
      expect(res.code, `${id}: ${res.stderr}`).toBe(0)
      expect(environmentSection(res.stdout), id).toEqual(environmentOf(id).map((v) => v.name))
    })
  })

  it('the commands that use a variable list it: credentials for sync, the token for serve, the rule file for rule', async () => {
    const tag = await runImgsync(['sync', 'tag', '--help'])
    expect(environmentSection(tag.stdout)).toEqual(
      expect.arrayContaining([
        'IMGSYNC_SRC_USERNAME',
        'IMGSYNC_DST_PASSWORD',
        'IMGSYNC_TIMEOUT',
        'DOCKER_CONFIG',
      ]),
    )
    const serve = await runImgsync(['serve', '--help'])
    expect(environmentSection(serve.stdout)).toContain('IMGSYNC_WEBHOOK_TOKEN')
    const list = await runImgsync(['rule', 'list', '--help'])
    expect(environmentSection(list.stdout)).toEqual(['IMGSYNC_CONFIG', 'IMGSYNC_LOG_LEVEL', 'IMGSYNC_DEBUG'])
  })

  it('every IMGSYNC_* variable settings.ts reads is in the list, README "Environment variables" and some --help', () => {
    const listed = new Set(ENVIRONMENT.map((v) => v.name))
    const read = new Set([...settings.matchAll(/\bIMGSYNC_[A-Z_]*[A-Z]\b/g)].map((m) => m[0]))
    for (const name of read) expect(listed.has(name), `${name} read by settings.ts`).toBe(true)
    const section = readme.slice(
      readme.indexOf('## Environment variables'),
      readme.indexOf('## Security model'),
    )
    for (const name of listed) {
      // README writes pairs as `IMGSYNC_SRC_USERNAME` / `_PASSWORD`
      const short = name.replace(/^IMGSYNC_(SRC|DST)_/, '_')
      expect(section.includes(`\`${name}\``) || section.includes(`\`${short}\``), `${name} in README`).toBe(
        true,
      )
      expect(
        ids.some((id) => environmentOf(id).some((v) => v.name === name)),
        `${name} in a --help`,
      ).toBe(true)
    }
    for (const m of section.matchAll(/`(IMGSYNC_[A-Z_]+)`/g)) expect(listed.has(m[1]!), m[1]).toBe(true)
  })
})
