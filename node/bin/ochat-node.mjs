#!/usr/bin/env node
// The node's command line. It runs the TypeScript sources through tsx, so there is no build step.
import { register } from 'tsx/esm/api'

register()
const { run } = await import('../src/cli.ts')
process.exit(await run(process.argv.slice(2)))
