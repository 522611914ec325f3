#!/usr/bin/env node
// Runs every test in the workspace with tap and ends with one line, "N passed, N failed", counted from
// the TAP stream: each leaf assertion counts once, and a subtest that failed without a failing assertion
// (an uncaught error, a timeout) counts as one failure, so nothing that broke goes uncounted.
// Extra arguments go to tap, e.g. `pnpm test shared-protocol/test/canonical.test.ts`.
//
// `--fast` (`pnpm test:fast`): the in-process tests only, on PGlite only (OCHAT_TEST_DRIVERS=pglite):
// no PostgreSQL variant, no browser, no end-to-end file, no file that starts a server process. For the
// edit-and-retry loop; `pnpm test` runs everything.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { availableParallelism } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Parser } from 'tap-parser'

const root = fileURLToPath(new URL('..', import.meta.url))
const tapBin = join(root, 'node_modules/.bin/tap')

/** Folders of the in-process tests, and the files in them that start processes of their own. */
const FAST_FOLDERS = ['shared-protocol/test', 'relay/test', 'node/test']
const NOT_FAST = new Set([
  // Starts `ochat-relay serve` processes beside in-process relays, on one PostgreSQL database.
  'relay/test/replicas.test.ts',
  // Runs the `ochat-relay` binary, and PGlite's initdb in a new data directory.
  'relay/test/cli.test.ts',
  // Starts `ochat-node serve` and stops it with a signal, as an operator would.
  'node/test/cli.test.ts',
])

function fastFiles() {
  return FAST_FOLDERS.flatMap((folder) =>
    readdirSync(join(root, folder), { recursive: true })
      .map((name) => join(folder, String(name)))
      .filter((path) => path.endsWith('.test.ts') && !NOT_FAST.has(path)),
  ).sort()
}

// tap runs from the workspace root wherever this is started: below it, tap would take the package's
// folder for the project, without .taprc, and rebuild itself with its default plugins (and again at the
// next run from the root), breaking the test processes of any run at the same time. Files named on
// the command line are taken from where it was started.
let args = process.argv
  .slice(2)
  .map((arg) => (!arg.startsWith('-') && existsSync(arg) ? relative(root, resolve(arg)) : arg))
// One name for the run: the relay tests' migrated PostgreSQL template is made once for it and dropped at
// the end, so a run leaves no database behind.
const run = randomBytes(4).toString('hex')
const env = { ...process.env, OCHAT_TEST_RUN: run }
const fast = args.includes('--fast')
if (fast) {
  args = args.filter((arg) => arg !== '--fast')
  env.OCHAT_TEST_DRIVERS = 'pglite'
  // Files or folders named on the command line are run as named; otherwise, every in-process file.
  const namesFiles = args.some((arg) => !arg.startsWith('-') && existsSync(join(root, arg)))
  if (!namesFiles) args.push(...fastFiles())
}
// One file per core. Most files are CPU-bound (PGlite, SQLite, signatures, hashing): a third file on two
// cores only made every file slower, and their timeouts tighter. The in-process files of --fast are
// shorter and spend a larger share starting up and waiting on their own timers: one more file than
// cores keeps the cores busy.
if (!args.some((arg) => arg === '-j' || arg.startsWith('--jobs') || /^-j\d+$/.test(arg)))
  args.unshift(`--jobs=${availableParallelism() + (fast ? 1 : 0)}`)

const counts = { passed: 0, failed: 0, skipped: 0 }

/** Counts a failure in `parser` and in each subtest around it, so none of them counts it again. */
function fail(parser) {
  counts.failed++
  for (let at = parser; at; at = at.parentParser) at.failuresBelow++
}

function watch(parser, parentParser) {
  parser.parentParser = parentParser
  parser.failuresBelow = 0
  const openChildren = []
  parser.on('child', (child) => {
    openChildren.push(child)
    watch(child, parser)
  })
  parser.on('assert', (result) => {
    const closed = openChildren.shift()
    if (closed) {
      // The line that closes a subtest: its assertions were already counted inside it. A file that
      // crashed before its first test closes as "not ok" with nothing inside: that is one failure.
      if (!result.ok && !result.skip && !result.todo && closed.failuresBelow === 0) fail(closed)
      return
    }
    if (result.skip || result.todo) counts.skipped++
    else if (result.ok) counts.passed++
    else fail(parser)
  })
  parser.on('complete', (summary) => {
    // A subtest that failed with no failing assertion of its own or below it (it threw, or timed out).
    if (!summary.ok && parser.failuresBelow === 0) fail(parser)
  })
}

const parser = new Parser()
watch(parser, undefined)

const child = spawn(tapBin, ['--reporter=tap', ...args], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
  env,
})
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk)
  parser.write(chunk)
})
/** Drops the run's template databases; a server that is not there has none to drop. */
async function dropRunTemplates() {
  const require = createRequire(join(root, 'relay/package.json'))
  const { default: postgres } = await import(require.resolve('postgres'))
  const admin = postgres(env.OCHAT_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/postgres', {
    max: 1,
    connect_timeout: 5,
    onnotice: () => {},
  })
  try {
    const templates =
      await admin`select datname from pg_database where datname like ${`ochat_test_template_${run}_%`}`
    for (const { datname } of templates)
      await admin.unsafe(`drop database if exists "${datname}" with (force)`)
  } catch {
    // No PostgreSQL (a --fast run on a machine without one): nothing was made there.
  } finally {
    await admin.end({ timeout: 1 })
  }
}

child.on('close', async (code) => {
  parser.end()
  await dropRunTemplates()
  const skipped = counts.skipped > 0 ? `, ${counts.skipped} skipped` : ''
  process.stdout.write(`\n${counts.passed} passed, ${counts.failed} failed${skipped}\n`)
  process.exit(code === 0 && counts.failed === 0 ? 0 : 1)
})
