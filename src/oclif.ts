// The bundle entry that bin/run.js loads: it shares dist/chunks' one copy of @oclif/core with the commands.
export { execute } from '@oclif/core'
