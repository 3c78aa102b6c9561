import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../../cli/base-command.js'
import { adhocSyncFlags } from '../../cli/flags.js'
import { runAdhocTask, type TaskJson } from '../../cli/task-runner.js'
import { compileRegex, parseRepoLocation, planRepo } from '../../sync/plan-adhoc.js'
import { selectSyncTags } from '../../sync/select-tags.js'

export default class SyncRepo extends BaseCommand {
  static summary = 'Copy every tag of a repository (or those the filters select) to another registry.'

  static description =
    `Lists the tags of SRC_REPO, keeps those that pass --include / --exclude / --latest, and copies each to DST_REPO under the same tag, digest-preserving.
Repository paths of any depth are kept as given. Tags already up to date are skipped with two small requests each, so a re-run is cheap.
Credentials: --src-creds-file / --dst-creds-file (user:password or JSON), else IMGSYNC_SRC_USERNAME / IMGSYNC_SRC_PASSWORD and IMGSYNC_DST_USERNAME / IMGSYNC_DST_PASSWORD, else the docker config (--authfile, $DOCKER_CONFIG or ~/.docker/config.json, with credential helpers), else anonymous. Secrets never go on the command line.
TLS is verified; --src-ca / --dst-ca name a private CA. Loopback hosts use plain HTTP unless they speak TLS.
On a terminal a progress line shows bytes copied of a total, the rate and the time left. Ctrl-C stops: images being copied get a few seconds, the rest are recorded interrupted, exit 130; a second Ctrl-C stops at once (the running task is still recorded).`

  static examples = [
    {
      description: 'Mirror a whole repository',
      command: '<%= config.bin %> sync repo registry.example.com/team-a/app registry.example.net/team-a/app',
    },
    {
      description: 'Only release tags, not release candidates',
      command: `<%= config.bin %> sync repo 127.0.0.1:5000/team-a/sub/svc 127.0.0.1:5001/team-a/sub/svc --include '^v\\d+\\.\\d+\\.\\d+' --exclude -rc`,
    },
    {
      description: 'The five newest semver tags, as JSON for CI',
      command: '<%= config.bin %> sync repo 127.0.0.1:5000/app 127.0.0.1:5001/app --latest 5 --json',
    },
  ]

  static args = {
    src: Args.string({
      required: true,
      description: 'source repository: [docker://]host[:port]/path/to/repo, or oci:DIR',
    }),
    dst: Args.string({
      required: true,
      description: 'target repository: [docker://]host[:port]/path/to/repo, or oci:DIR',
    }),
  }

  static flags = {
    include: Flags.string({ summary: 'Copy only tags matching this regular expression.', helpValue: 'RE' }),
    exclude: Flags.string({ summary: 'Leave out tags matching this regular expression.', helpValue: 'RE' }),
    latest: Flags.integer({
      summary: 'Keep only the N highest tags in semver order.',
      min: 1,
      helpValue: 'N',
    }),
    prune: Flags.boolean({
      summary: 'Delete target tags (within the filters) that the source no longer has. Try --dry-run first.',
    }),
    'max-delete': Flags.integer({
      summary: 'With --prune: fail (PRUNE_LIMIT) instead of deleting more than N tags.',
      default: 10,
      min: 0,
      helpValue: 'N',
    }),
    ...adhocSyncFlags,
  }

  async run(): Promise<TaskJson> {
    const { args, flags } = await this.parse(SyncRepo)
    const src = parseRepoLocation(args.src)
    const dst = parseRepoLocation(args.dst)
    compileRegex(flags.include, '--include')
    compileRegex(flags.exclude, '--exclude')
    const filter = { include: flags.include, exclude: flags.exclude, latest: flags.latest }
    return runAdhocTask(
      this.settings,
      this.jsonEnabled(),
      args,
      flags,
      { src: src.location, dst: dst.location },
      (registries) => ({
        plan: () =>
          planRepo(
            src,
            dst,
            registries.src(),
            registries.dst(),
            (tags) => selectSyncTags(filter, tags, 'flags'),
            flags.prune ? { filter } : undefined,
          ),
        maxDelete: flags['max-delete'],
      }),
    )
  }
}
