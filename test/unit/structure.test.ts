// The shape README "Architecture" promises, checked on the source itself: small functions and
// files, the environment read in one place, oclif only at the edge, imports pointing down only.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

const SRC = fileURLToPath(new URL('../../src/', import.meta.url))
const MAX_FUNCTION_LINES = 80
const MAX_FILE_LINES = 450

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return files(path)
    return path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : []
  })
}

const sources = files(SRC).map((path) => ({ path: relative(SRC, path), text: readFileSync(path, 'utf8') }))

function imports(text: string): string[] {
  return [...text.matchAll(/^(?:import|export)\b[^'"]*from\s+'([^']+)'/gm)].map((m) => m[1]!)
}

/** The folder (first path segment) an import from `file` lands in, for relative imports. */
function folderOf(file: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined
  const target = join(file, '..', spec)
  return target.includes('/') ? target.split('/')[0] : '(root)'
}

describe('source structure', () => {
  it(`no function is longer than ${MAX_FUNCTION_LINES} lines, no file longer than ${MAX_FILE_LINES}`, () => {
    const long: string[] = []
    for (const { path, text } of sources) {
      const lines = text.split('\n').length
      if (lines > MAX_FILE_LINES) long.push(`${path}: ${lines} lines`)
      const sf = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true)
      const visit = (node: ts.Node) => {
        if (ts.isFunctionLike(node) && 'body' in node && node.body) {
          const start = sf.getLineAndCharacterOfPosition(node.getStart()).line
          const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line
          if (end - start + 1 > MAX_FUNCTION_LINES)
            long.push(`${path}:${start + 1}: ${end - start + 1} lines`)
        }
        ts.forEachChild(node, visit)
      }
      visit(sf)
    }
    expect(long).toEqual([])
  })

  it('process.env is read in one place: cli/settings.ts', () => {
    const readers = sources.filter((s) => /\bprocess\.env\b/.test(s.text)).map((s) => s.path)
    expect(readers).toEqual(['cli/settings.ts'])
  })

  it('@oclif/core is imported only by commands, cli and the bundle entry', () => {
    const users = sources
      .filter((s) => imports(s.text).some((i) => i.startsWith('@oclif/core')))
      .map((s) => s.path)
    expect(users.length).toBeGreaterThan(0)
    for (const path of users) expect(path, path).toMatch(/^(commands\/|cli\/|oclif\.ts$)/)
  })

  it('the copy engine never looks at a location prefix; backends say what they can do', () => {
    for (const { path, text } of sources.filter((s) => s.path.startsWith('copy/'))) {
      expect(text, path).not.toMatch(/['"`]oci:/)
      expect(text, path).not.toMatch(/OCI_PREFIX|instanceof (HttpRegistry|OciLayoutRegistry)/)
    }
  })

  it('imports point down: registry and rules import nothing above them; the engine never imports cli or ui', () => {
    const above: Record<string, string[]> = {
      registry: ['copy', 'sync', 'triggers', 'cli', 'commands', 'ui', 'records', 'rules'],
      rules: ['copy', 'sync', 'triggers', 'cli', 'commands', 'ui', 'records'],
      copy: ['sync', 'triggers', 'cli', 'commands', 'ui', 'records', 'rules'],
      sync: ['triggers', 'cli', 'commands', 'ui'],
      records: ['copy', 'sync', 'triggers', 'cli', 'commands', 'ui', 'rules', 'registry'],
      triggers: ['cli', 'commands', 'ui'],
    }
    const wrong: string[] = []
    for (const { path, text } of sources) {
      const folder = path.split('/')[0]!
      for (const spec of imports(text)) {
        const to = folderOf(path, spec)
        if (to && above[folder]?.includes(to)) wrong.push(`${path} → ${spec}`)
      }
    }
    expect(wrong).toEqual([])
  })
})
