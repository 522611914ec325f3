#!/usr/bin/env node
// `pnpm start`: will start a relay on PGlite and two nodes ("Acme", "Globex") with sample data.
// Until the servers exist it says so plainly and starts nothing.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const missing = [
  { part: 'node', entry: 'node/src/server.ts', issue: "issues 4 and 5 (node, O'Chat on the node)" },
].filter(({ entry }) => !existsSync(`${root}${entry}`))

if (missing.length > 0) {
  console.error("O'Chat cannot start yet: nothing was started.\n")
  for (const { part, issue } of missing)
    console.error(`  - the ${part} is not built yet; it comes with ${issue}.`)
  console.error(
    '\nWhat works today: the relay on its own (`node relay/bin/ochat-relay.mjs serve`), the shared',
  )
  console.error('protocol, every test (`npx pnpm@10 test`) and the benchmarks (`npx pnpm@10 bench`).')
  console.error('See README.md and shared-protocol/PROTOCOL.md.')
  process.exit(1)
}
console.error('The servers exist but `pnpm start` has not been wired to them yet (issue 5).')
process.exit(1)
