#!/usr/bin/env node
// `pnpm bench`: runs every benchmark in the workspace, one after the other (they share two cores), and
// prints each figure as the median of several runs. Pass a name to run only matching benchmarks.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const benches = [
  { name: 'shared-protocol', file: 'shared-protocol/bench/crypto.bench.ts' },
  // Needs PostgreSQL on 127.0.0.1:5432, like the tests; it creates and drops its own database.
  { name: 'relay', file: 'relay/bench/relay.bench.ts' },
  // The node in its own process on a fresh SQLite file in a temporary directory.
  { name: 'node', file: 'node/bench/node.bench.ts' },
  // Outgoing email: the node's sender against nodemailer alone, to an SMTP server in the bench.
  { name: 'mail', file: 'node/bench/mail.bench.ts' },
  // Incoming email: the node's SMTP listener against a bare smtp-server, driven by the same clients.
  { name: 'mail-in', file: 'node/bench/mail-in.bench.ts' },
  // Outbound webhooks and automation rules: deliveries against undici alone, rules against none, the
  // time-based scheduler's firings a minute.
  { name: 'automation', file: 'node/bench/automation.bench.ts' },
  // Full-text search over 100,000 messages, as a user whose access rules apply.
  { name: 'search', file: 'node/bench/search.bench.ts' },
  // The web UI in headless Chromium against the node in its own process: load, size, a long channel.
  { name: 'ui', file: 'node/bench/ui.bench.ts' },
  // O'Chat end to end: a relay (PostgreSQL) and two nodes, each its own process.
  { name: 'ochat', file: 'test/bench/ochat.bench.ts' },
  // Every route of both OpenAPI documents fuzzed, in process: requests, statuses, 5xx, rate.
  { name: 'fuzz', file: 'test/bench/fuzz.bench.ts' },
]
const only = process.argv[2]
let failed = 0
for (const bench of benches) {
  if (only && !bench.name.includes(only)) continue
  console.log(`\n== ${bench.name} (${bench.file})`)
  const run = spawnSync(process.execPath, ['--import=tsx', bench.file], { cwd: root, stdio: 'inherit' })
  if (run.status !== 0) failed++
}
process.exit(failed === 0 ? 0 : 1)
