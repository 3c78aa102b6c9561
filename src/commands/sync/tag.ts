import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../../cli/base-command.js'
import { adhocSyncFlags } from '../../cli/flags.js'
import { runAdhocTask, type TaskJson } from '../../cli/task-runner.js'
import { display, parseTagArgs, planTags } from '../../sync/plan-adhoc.js'

export default class SyncTag extends BaseCommand {
  static summary = 'Copy one image (or several tags of one repository) to another registry.'

  static description =
    `Copies the image SRC names, with every platform, layer and manifest byte for byte, so digests stay the same.
SRC without a tag or digest means its tag latest, as in docker pull (imgsync says so). DST is a repository, optionally with a tag (default: the source tag). With --tags, SRC is a repository and each listed tag is copied in one task.
A target tag that already has the source digest is skipped without moving any blob. One with a different digest fails with IMAGE_EXISTS unless --override is given.
Credentials: --src-creds-file / --dst-creds-file (user:password or JSON), else IMGSYNC_SRC_USERNAME / IMGSYNC_SRC_PASSWORD and IMGSYNC_DST_USERNAME / IMGSYNC_DST_PASSWORD, else the docker config (--authfile, $DOCKER_CONFIG or ~/.docker/config.json, with credential helpers), else anonymous. Secrets never go on the command line.
TLS is verified; --src-ca / --dst-ca name a private CA. Loopback hosts use plain HTTP unless they speak TLS.
On a terminal a progress line shows bytes copied of a total, the rate and the time left. Ctrl-C stops: images being copied get a few seconds, the rest are recorded interrupted, exit 130; a second Ctrl-C stops at once (the running task is still recorded).`

  static examples = [
    {
      description: 'Copy one tag to another region',
      command:
        '<%= config.bin %> sync tag swr.ap-southeast-1.example.com/team/app:1.2 swr.cn-north-4.example.com/team/app',
    },
    {
      description: 'Copy three tags in one task, and print the result as JSON',
      command:
        '<%= config.bin %> sync tag registry.example.com/team/app registry.example.net/team/app --tags 1.0,1.1,2.0 --json',
    },
    {
      description: 'Copy by digest and give the target a tag',
      command: '<%= config.bin %> sync tag 127.0.0.1:5000/app@sha256:<64 hex> 127.0.0.1:5001/app:stable',
    },
    {
      description: 'Preview without copying',
      command: '<%= config.bin %> sync tag 127.0.0.1:5000/app:1.0 127.0.0.1:5001/app --dry-run',
    },
    {
      description:
        'Across accounts: source credentials from a file, target from the docker login, target behind a private CA',
      command:
        '<%= config.bin %> sync tag registry.a.example/team/app:1.2 registry.b.example/team/app --src-creds-file ~/.config/imgsync/a.creds --dst-ca ./corp-ca.pem',
    },
  ]

  static args = {
    src: Args.string({
      required: true,
      description: 'source image: host[:port]/repo:tag or host/repo@sha256:… (docker:// in front is fine)',
    }),
    dst: Args.string({ required: true, description: 'target repository: [docker://]host[:port]/repo[:tag]' }),
  }

  static flags = {
    tags: Flags.string({
      summary: 'Comma-separated tags of the SRC repository to copy in one task.',
      helpValue: 'a,b,c',
    }),
    ...adhocSyncFlags,
  }

  async run(): Promise<TaskJson> {
    const { args, flags } = await this.parse(SyncTag)
    const parsed = parseTagArgs({
      source: args.src,
      target: args.dst,
      tags: flags.tags
        ?.split(',')
        .map((t) => t.trim())
        .filter(Boolean),
    })
    if (!flags.tags && parsed.src.tag === undefined && parsed.src.digest === undefined) {
      // as docker pull does: say which tag a bare repository means
      const latest = display(parsed.src.registry, parsed.src.repository, 'latest')
      this.logToStderr(`no tag given: copying ${latest} (name one as REPO:TAG, or several with --tags)`)
    }
    return runAdhocTask(
      this.settings,
      this.jsonEnabled(),
      args,
      flags,
      { src: parsed.src.location, dst: parsed.dst.location },
      (registries) => ({ plan: async () => planTags(parsed, registries.src(), registries.dst()) }),
    )
  }
}
