// A process that runs tasks for a year (serve): no listener or timer outlives its task.
import { getEventListeners } from 'node:events'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { RecordWriter } from '../../src/records/store.js'
import { runTask } from '../../src/sync/run-task.js'
import { MemoryRegistry } from '../support/memory-registry.js'
import { tempDirs } from '../support/temp-dir.js'

// a full collection before each heap reading, so only what is still held is counted
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
function heapAfterGc(): number {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

const tempDir = tempDirs('imgsync-long-')

describe('10,000 tasks in one process', () => {
  it('leave no abort listener behind on the long-lived signal, no MaxListeners warning, a flat heap', async () => {
    const dir = tempDir()
    const records = new RecordWriter(join(dir, 'records.jsonl'))
    const src = new MemoryRegistry('src.example', { delayMs: { headManifest: 0 } })
    const dst = new MemoryRegistry('dst.example', { delayMs: { headManifest: 0 } })
    src.seedImage('app', '1.0', { layers: [Buffer.from('x')] })
    const controller = new AbortController()
    const warnings: string[] = []
    const onWarning = (w: Error) => warnings.push(w.name)
    process.on('warning', onWarning)
    const item = {
      src,
      srcRepo: 'app',
      srcRef: '1.0',
      dst,
      dstRepo: 'app',
      dstTag: '1.0',
      source: 's',
      target: 't',
      tag: '1.0',
    }
    let heapAt1000 = 0
    try {
      for (let n = 0; n < 10_000; n++) {
        // after a warm-up (code compiled, caches filled), the heap must not grow with the task count
        if (n === 1000) heapAt1000 = heapAfterGc()
        await runTask({
          trigger: 'auto',
          source: 's',
          target: 't',
          override: false,
          dryRun: false,
          concurrency: 2,
          plan: async () => ({ items: [item], excluded: [], repositories: 1 }),
          records,
          signal: controller.signal,
        })
        // the in-memory registries' call logs are test instruments, not the process under test
        src.clearLog()
        dst.clearLog()
        if (n === 100) expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0)
      }
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0)
      expect(warnings).toEqual([])
      const growth = heapAfterGc() / heapAt1000 - 1
      expect(growth).toBeLessThan(0.1)
    } finally {
      process.off('warning', onWarning)
      records.close()
    }
  }, 120_000)
})
