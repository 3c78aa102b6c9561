#!/usr/bin/env -S node --import tsx
// Runs the TypeScript sources directly (needs tsx, a dev dependency, so it is not in the npm
// package); bin/run.js runs the build. Both go through src/cli/main.ts.
import { fileURLToPath } from 'node:url'
import { settings } from '@oclif/core'
import { main } from '../src/cli/main.ts'

// as oclif's execute({ development: true }): commands and the help class are loaded from src/
process.env.NODE_ENV = 'development'
settings.debug = true
await main(process.argv.slice(2), fileURLToPath(new URL('..', import.meta.url)))
