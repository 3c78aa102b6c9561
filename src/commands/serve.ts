import { once } from 'node:events'
import type { Server } from 'node:http'
import { Flags, type Interfaces } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { configFlag, durationFlag, taskFlags } from '../cli/flags.js'
import { warnAboutLiteralPasswords } from '../cli/rule-file.js'
import { ImgsyncError } from '../errors.js'
import { parseShard } from '../rules/match.js'
import { holdServeLock, serveStateBase } from '../triggers/instance-lock.js'
import { ServeMetrics } from '../triggers/metrics.js'
import { createServeServer } from '../triggers/server.js'
import { SyncService } from '../triggers/service.js'

export default class Serve extends BaseCommand {
  static summary =
    'Run as a service: schedule rules on their cron, sync auto rules on push webhooks, expose metrics.'

  static description =
    `Runs every enabled rule with trigger schedule on its cron expression (and time zone), never two runs of one rule at once.
Rules with trigger auto sync each tag pushed after start: point CNCF distribution's notifications (POST /webhooks/distribution) or a Harbor webhook (POST /webhooks/harbor) at this server, with "Authorization: Bearer <IMGSYNC_WEBHOOK_TOKEN>". --backfill first syncs what already exists.
GET /healthz answers 200 while serving; GET /metrics is Prometheus text. SIGHUP reloads the rule file; SIGTERM/SIGINT stop taking work, interrupt running items (recorded interrupted) and exit 0.`

  static examples = [
    {
      description: 'Serve on the default address',
      command: 'IMGSYNC_WEBHOOK_TOKEN=… <%= config.bin %> serve --config imgsync.yaml',
    },
    {
      description: 'Listen on all interfaces in a container, syncing what exists first',
      command: '<%= config.bin %> serve --listen 0.0.0.0:8080 --backfill',
    },
    {
      description: 'Worker 1 of 3 (each takes the repositories of its shard)',
      command: '<%= config.bin %> serve --shard 1/3',
    },
  ]

  static flags = {
    ...configFlag,
    listen: Flags.string({
      summary: 'Address to listen on.',
      default: '127.0.0.1:8080',
      helpValue: 'HOST:PORT',
    }),
    shard: Flags.string({
      summary: 'Serve only shard INDEX of COUNT, split by repository.',
      helpValue: 'INDEX/COUNT',
    }),
    backfill: Flags.boolean({
      summary: 'At start, run every enabled auto rule once for images that already exist.',
    }),
    records: Flags.string({ summary: 'Records file to append to.', helpValue: 'FILE' }),
    'full-check': taskFlags['full-check'],
    'limit-rate': taskFlags['limit-rate'],
    concurrency: Flags.integer({ summary: 'Images in flight within one task.', default: 8, min: 1, max: 64 }),
    workers: Flags.integer({
      summary: 'Push jobs running at once (schedules and reconciles run beside them).',
      default: 2,
      min: 1,
      max: 32,
    }),
    grace: durationFlag('On SIGTERM, how long queued and running push jobs get to finish', '20s'),
    'retry-for': durationFlag('How long a push job whose registry is down keeps being retried', '15m'),
    reconcile: durationFlag('How often auto rules are synced whole, for what pushes missed; 0 never', '1h'),
    'degraded-after': durationFlag('How long a registry may fail before /healthz says degraded', '30s'),
    'verbose-records': Flags.boolean({
      summary: 'Record each skipped item of scheduled runs too (by default their task line counts them).',
    }),
  }

  async run(): Promise<{ stopped: true; left: number }> {
    const { flags } = await this.parse(Serve)
    const m = /^(.*):(\d+)$/.exec(flags.listen)
    if (!m) {
      throw new ImgsyncError(
        'INVALID_ARGUMENT',
        `--listen "${flags.listen}": expected HOST:PORT, e.g. 127.0.0.1:8080`,
      )
    }
    const { settings } = this
    const recordsPath = settings.recordsPath(flags.records)
    const say = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`)
    // one serve per state (the records file, and the push journal beside it)
    const shard = flags.shard ? parseShard(flags.shard) : undefined
    const instance = await holdServeLock(serveStateBase(recordsPath, shard), recordsPath, flags.listen)
    try {
      const metrics = new ServeMetrics()
      const service = await this.service(flags, recordsPath, metrics, say)
      const server = createServeServer(service, metrics)
      await listen(server, flags.listen, m[1]!.replace(/^\[|\]$/g, ''), Number(m[2]))
      say(`listening on http://${flags.listen} (records ${recordsPath})`)
      if (!service.webhookToken())
        say('webhooks are off until IMGSYNC_WEBHOOK_TOKEN or serve.webhookToken is set')
      service.start()
      if (flags.backfill) void service.backfill()
      process.on('SIGHUP', () => void service.reload())
      const signal = await new Promise<NodeJS.Signals>((resolve) => {
        process.once('SIGTERM', () => resolve('SIGTERM'))
        process.once('SIGINT', () => resolve('SIGINT'))
      })
      say(`${signal}: no new pushes; running jobs get ${flags.grace / 1000}s, then they are interrupted`)
      server.close()
      server.closeAllConnections()
      const { left } = await service.stop(flags.grace)
      say(left > 0 ? `stopped; ${left} push job(s) kept in the journal for the next start` : 'stopped')
      return { stopped: true, left }
    } finally {
      await instance.release()
    }
  }

  private service(
    flags: Interfaces.InferredFlags<typeof Serve.flags>,
    recordsPath: string,
    metrics: ServeMetrics,
    say: (line: string) => void,
  ): Promise<SyncService> {
    const { settings } = this
    const configPath = settings.configPath(flags.config)
    return SyncService.create({
      configPath,
      env: settings.env,
      run: {
        recordsPath,
        network: settings.network,
        caches: settings.caches(recordsPath),
        dockerConfig: settings.dockerConfig,
        fullCheck: flags['full-check'],
        concurrency: flags.concurrency,
        limitRate: flags['limit-rate'],
        rotation: settings.rotation,
      },
      concurrency: flags.concurrency,
      workers: flags.workers,
      shard: flags.shard ? parseShard(flags.shard) : undefined,
      webhookToken: settings.webhookToken,
      retryForMs: flags['retry-for'],
      reconcileMs: flags.reconcile,
      degradedAfterMs: flags['degraded-after'],
      verboseRecords: flags['verbose-records'],
      metrics,
      say,
    }).then((service) => {
      warnAboutLiteralPasswords(configPath, service.literalPasswords)
      return service
    })
  }
}

async function listen(server: Server, address: string, host: string, port: number): Promise<void> {
  server.listen(port, host)
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([err]) => {
      throw new ImgsyncError('INVALID_ARGUMENT', `cannot listen on ${address}: ${(err as Error).message}`)
    }),
  ])
}
