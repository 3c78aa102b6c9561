// The rule file: schema, load (validate + interpolate), format-keeping edits, and pure matching.
export * from './checks.js'
export * from './load.js'
export * from './match.js'
export * from './save.js'
export * from './schema.js'
