// The bundle entry that bin/run.js loads: the CLI's main, sharing dist/chunks' one copy of
// @oclif/core with the commands.
export { main } from './cli/main.js'
