// Run by edit-file.test.ts in separate processes (vite-node): adds one rule to the file under the lock.
// argv: FILE RULE_NAME HOLD_MS
import { setTimeout as sleep } from 'node:timers/promises'
import { addRule, editRuleFile, ensureRegistry } from '../../../src/rules/save.js'

const [file, name, hold] = process.argv.slice(2)
if (!file || !name) throw new Error('usage: edit-child FILE RULE_NAME [HOLD_MS]')

await editRuleFile(
  file,
  async (doc) => {
    const registry = ensureRegistry(doc, '127.0.0.1:5000')
    // Hold the lock a little while, so that without the lock the writers would surely interleave.
    await sleep(Number(hold ?? 0))
    addRule(doc, { name, source: { registry, namespace: name }, target: { registry } })
  },
  { lockTimeoutMs: 60_000 },
)
