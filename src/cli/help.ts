// oclif's help, with an ENVIRONMENT section: the variables each command reads (environment.ts).
// package.json names this file as oclif.helpClass; the build makes it dist/cli/help.js.
import { CommandHelp, Help } from '@oclif/core'
import { environmentOf } from './environment.js'

class ImgsyncCommandHelp extends CommandHelp {
  protected override sections(): ReturnType<CommandHelp['sections']> {
    const sections = super.sections()
    const environment = {
      header: 'ENVIRONMENT',
      generate: () => {
        // help shows ids with the topic separator (`sync tag`)
        const vars = environmentOf(this.command.id.replaceAll(' ', ':'))
        if (vars.length === 0) return undefined
        return this.renderList(
          vars.map((v) => [v.name, v.meaning]),
          { indentation: 2, stripAnsi: this.opts.stripAnsi },
        )
      },
    }
    // after the flags, which most of these stand in for or default
    const at = sections.findIndex((s) => s.header === 'DESCRIPTION')
    sections.splice(at < 0 ? sections.length : at, 0, environment)
    return sections
  }
}

export default class ImgsyncHelp extends Help {
  protected override CommandHelpClass = ImgsyncCommandHelp
}
