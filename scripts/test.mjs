#!/usr/bin/env node
// Runs every test in the workspace and ends with one line, "N passed, N failed", counted from the TAP
// streams: each leaf assertion counts once, and a file or subtest that failed without a failing
// assertion (an uncaught error, a timeout, a crash) counts as one failure, so nothing that broke goes
// uncounted.
//
//   node scripts/test.mjs [--fast] [--jobs=N] [--grep=PATTERN]… [--only] [--timeout=SECONDS] [PATH…]
//
// `--fast` (`pnpm test:fast`): the in-process tests only, on PGlite only (OCHAT_TEST_DRIVERS=pglite):
// no PostgreSQL variant, no browser, no end-to-end file, no file that starts a server process. For the
// edit-and-retry loop; `pnpm test` runs everything. PATHs (files or folders) run only those.
//
// The test files are written with tap, but this runs them itself, as plain `node` processes on
// JavaScript built into .test-build/ at the start of the run (scripts/build-tests.mjs). tap's runner
// starts every file with its process-info hook, which costs about as much CPU as a short file's tests;
// on two cores, that was a fifth of the fast run. The files of a folder run several to a process, one
// after the other (scripts/test-group.mjs), and each is still reported, counted and timed on its own.
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { availableParallelism } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { Parser } from 'tap-parser'
import { buildTests, builtPath } from './build-tests.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))

/** Every test folder, the in-process ones, and the files in them that start processes of their own. */
const ALL_FOLDERS = ['shared-protocol/test', 'relay/test', 'node/test', 'test']
const FAST_FOLDERS = ['shared-protocol/test', 'relay/test', 'node/test']
const NOT_FAST = new Set([
  // Starts `ochat-relay serve` processes beside in-process relays, on one PostgreSQL database.
  'relay/test/replicas.test.ts',
  // Runs the `ochat-relay` binary, and PGlite's initdb in a new data directory.
  'relay/test/cli.test.ts',
  // Starts `ochat-node serve` and stops it with a signal, as an operator would.
  'node/test/cli.test.ts',
])
/** Seconds a file may run, as tap's own default in .taprc; a file past it is stopped and counted failed. */
const DEFAULT_TIMEOUT = 120

let options
try {
  options = parseArgs({
    allowPositionals: true,
    options: {
      fast: { type: 'boolean', default: false },
      jobs: { type: 'string', short: 'j' },
      grep: { type: 'string', short: 'g', multiple: true },
      only: { type: 'boolean', short: 'O', default: false },
      timeout: { type: 'string', short: 't' },
    },
  })
} catch (error) {
  process.stderr.write(
    `${error.message}\nusage: node scripts/test.mjs [--fast] [--jobs=N] [--grep=PATTERN]… [--only] [--timeout=SECONDS] [PATH…]\n`,
  )
  process.exit(2)
}
const { values, positionals } = options

/** The test files below `folders`, as paths from the workspace root. */
function testFiles(folders) {
  return folders
    .flatMap((folder) =>
      readdirSync(join(root, folder), { recursive: true })
        .map((name) => join(folder, String(name)))
        .filter((path) => path.endsWith('.test.ts') && !path.split('/').includes('node_modules')),
    )
    .sort()
}

/** Files or folders named on the command line, taken from where the command was started. */
function namedFiles(paths) {
  return paths.flatMap((path) => {
    const full = resolve(path)
    if (!existsSync(full)) {
      process.stderr.write(`no such file or folder: ${path}\n`)
      process.exit(2)
    }
    const inRoot = relative(root, full)
    return inRoot.endsWith('.ts') ? [inRoot] : testFiles([inRoot])
  })
}

const files =
  positionals.length > 0
    ? namedFiles(positionals)
    : values.fast
      ? testFiles(FAST_FOLDERS).filter((path) => !NOT_FAST.has(path))
      : testFiles(ALL_FOLDERS)

const TIMINGS = join(root, '.test-build', 'timings.json')
const lastTimes = readTimings()

/** Files share processes (scripts/test-group.mjs), unless --grep or --only pick tests by name: the
 * subtest that imports each file would not be picked. */
const grouped = !values.grep && !values.only
/** At most this many files to a process, and about this many seconds of them by their last times. */
const FILES_PER_GROUP = 8
const GROUP_MS = 60_000
/** A guess for a file without a time yet: the browser and end-to-end files take longer. */
const guessMs = (path) => (path.startsWith('test/') ? 25_000 : 4_000)

/**
 * What runs, one process each: each folder's files in groups balanced by their last times (the
 * longest goes to the group with the least so far). Longest first: on two cores, a long process
 * started last would run on alone at the end.
 */
function plan(paths) {
  const timeOf = (path) => lastTimes[path] ?? guessMs(path)
  if (!grouped) return paths.map((path) => ({ files: [path], ms: timeOf(path) }))
  const units = []
  for (const folder of new Set(paths.map((path) => dirname(path)))) {
    const mine = paths
      .filter((path) => dirname(path) === folder)
      .sort((a, b) => timeOf(b) - timeOf(a) || a.localeCompare(b))
    const total = mine.reduce((sum, path) => sum + timeOf(path), 0)
    const count = Math.min(
      mine.length,
      Math.max(Math.ceil(mine.length / FILES_PER_GROUP), Math.ceil(total / GROUP_MS)),
    )
    const groups = Array.from({ length: count }, () => ({ files: [], ms: 0 }))
    for (const path of mine) {
      const least = groups.reduce((a, b) => (b.ms < a.ms ? b : a))
      least.files.push(path)
      least.ms += timeOf(path)
    }
    for (const group of groups) group.files.sort()
    units.push(...groups)
  }
  return units.sort((a, b) => b.ms - a.ms)
}

// One process per core. With the files grouped, the cores are busy without more: a third process on two
// cores finished the full run no sooner, and the files took more CPU between them
// (relay/docs/performance.md).
const jobs = Number(values.jobs ?? availableParallelism())
const timeout = Number(values.timeout ?? DEFAULT_TIMEOUT)
if (!Number.isInteger(jobs) || jobs < 1 || !(timeout > 0)) {
  process.stderr.write('--jobs must be a whole number of at least 1, and --timeout a number of seconds\n')
  process.exit(2)
}

// One name for the run: the relay tests' migrated PostgreSQL template is made once for it and dropped at
// the end, so a run leaves no database behind.
const run = randomBytes(4).toString('hex')
const env = { ...process.env, OCHAT_TEST_RUN: run, TAP: '1', TAP_TIMEOUT: String(timeout) }
if (values.fast) env.OCHAT_TEST_DRIVERS = 'pglite'
if (values.grep) env.TAP_GREP = values.grep.join('\n')
if (values.only) env.TAP_ONLY = '1'
// A group's process has no timeout of its own: it times each of its files (scripts/test-group.mjs).
const groupEnv = { ...env, TAP_TIMEOUT: '0', OCHAT_TEST_FILE_TIMEOUT: String(timeout) }

/**
 * tap builds its Test class from the plugins .taprc lists, and its own runner rebuilds it when the list
 * changed. Running the files directly, this does the same check.
 */
async function ensureTapPlugins() {
  const fromTap = createRequire(realpathSync(join(root, 'node_modules/tap/package.json')))
  const fromRun = createRequire(realpathSync(fromTap.resolve('@tapjs/run/package.json')))
  const configModule = fromRun.resolve('@tapjs/config').replace('/commonjs/', '/esm/')
  // tap's config reads the command line as it loads, and ours is not tap's; it finds .taprc from the
  // working directory, and below the root it would take a package's folder for the project.
  process.chdir(root)
  const argv = process.argv
  process.argv = argv.slice(0, 2)
  const { TapConfig } = await import(pathToFileURL(configModule).href)
  const wanted = (await TapConfig.load()).pluginSignature
  process.argv = argv
  const built = join(dirname(fromRun.resolve('@tapjs/test/package.json')), 'test-built/dist/esm/index.js')
  const signature = /export const signature = `([^`]*)`/.exec(readFileSync(built, 'utf8'))?.[1]
  if (signature === wanted) return
  process.stderr.write("tap's plugins differ from .taprc: rebuilding them (tap build)\n")
  const build = spawnSync(join(root, 'node_modules/.bin/tap'), ['build'], { cwd: root, stdio: 'inherit' })
  if (build.status !== 0) {
    process.stderr.write('tap build failed; run `node_modules/.bin/tap build` to see why\n')
    process.exit(1)
  }
}

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
      // The line that closes a subtest: its assertions were already counted inside it.
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

/** The times of the last run; none when there was none or another run was writing them. */
function readTimings() {
  try {
    return JSON.parse(readFileSync(TIMINGS, 'utf8'))
  } catch {
    return {}
  }
}

/** Test processes running now, each the leader of its own process group. */
const running = new Set()

/**
 * A signal to a test file's whole process group: the servers and CLIs a test started go with it, and
 * do not hold their ports and databases against the files after it.
 */
function signalGroup(child, signal) {
  try {
    process.kill(-child.pid, signal)
  } catch {
    // The group has ended already.
  }
}

// Each file runs in a process group of its own, which the terminal's Ctrl-C does not reach: it is
// passed on, and the run stops.
for (const signal of ['SIGINT', 'SIGTERM'])
  process.on(signal, () => {
    for (const child of running) signalGroup(child, 'SIGKILL')
    process.exit(130)
  })

/**
 * Runs one process, a file alone or a group of files, and answers its TAP output. At the timeout a file
 * alone gets SIGALRM, as tap's runner sends it: its tap then fails the test that was running and ends.
 * A group times each of its files itself. The kill after that is for a process whose event loop never
 * yields; it takes what the process started too.
 */
function runProcess(unit) {
  const group = unit.files.length > 1
  const built = unit.files.map(builtPath)
  const args = group ? [join(root, 'scripts/test-group.mjs'), ...built] : [join(root, built[0])]
  return new Promise((done) => {
    const started = performance.now()
    const child = spawn(process.execPath, ['--enable-source-maps', ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: group ? groupEnv : env,
      detached: true,
    })
    running.add(child)
    const chunks = []
    let timedOut = false
    const alarm = group
      ? undefined
      : setTimeout(() => {
          timedOut = true
          child.kill('SIGALRM')
        }, timeout * 1000)
    const kill = setTimeout(() => signalGroup(child, 'SIGKILL'), (timeout * unit.files.length + 10) * 1000)
    child.stdout.on('data', (chunk) => chunks.push(chunk))
    child.on('close', (code, signal) => {
      running.delete(child)
      clearTimeout(alarm)
      clearTimeout(kill)
      // Whatever the process left running (it timed out, or forgot a server) ends with it.
      signalGroup(child, 'SIGKILL')
      const output = Buffer.concat(chunks).toString('utf8')
      const result = { output, code, signal, timedOut, ms: performance.now() - started }
      done(
        group ? splitGroup(unit, result) : { results: [{ path: unit.files[0], ...result }], notReached: [] },
      )
    })
  })
}

/** A line of the root test's own (not a subtest's): a test's result, the plan, the closing comments. */
const ROOT_RESULT = /^(not )?ok \d+( |$)/
const ROOT_ONLY = /^(TAP version \d+|1\.\.\d+|# \{ total:.*|# time=[\d.]+ms)$/

/** The subtest scripts/test-group.mjs runs after a file's tests: a file that got to its end has it. */
const CLOSED = /^(not )?ok \d+ - closes what the file started( |$)/

/**
 * A group's TAP stream cut back into its files, each as if it had run alone: its results numbered from
 * 1 and a plan. Each file's part starts at the subtest that imported it (scripts/test-group.mjs) and
 * takes its time from its tests' own. A file whose part stops before its end failed where the process
 * ended (a crash, a timeout). Answers the results, and the files the process never reached.
 */
function splitGroup(unit, { output, code, signal, timedOut }) {
  const openers = unit.files.map((path) => `# Subtest: ${builtPath(path)}`)
  const parts = []
  for (const line of output.split('\n')) {
    if (parts.length < openers.length && line === openers[parts.length])
      parts.push({
        path: unit.files[parts.length],
        lines: [],
        results: 0,
        failed: false,
        closed: false,
        ms: 0,
      })
    const part = parts.at(-1)
    if (!part || ROOT_ONLY.test(line)) continue
    const result = ROOT_RESULT.exec(line)
    if (result) {
      part.results++
      part.failed ||= Boolean(result[1])
      part.closed ||= CLOSED.test(line)
      part.ms += Number(/ # time=([\d.]+)ms$/.exec(line)?.[1] ?? 0)
      part.lines.push(line.replace(/^(not )?ok \d+/, `$1ok ${part.results}`))
    } else part.lines.push(line)
  }
  const results = parts.map((part) => {
    const output = `${part.lines.join('\n').replace(/\n*$/, '\n')}1..${part.results}\n`
    if (!part.closed) return { path: part.path, output, code: code || 1, signal, timedOut, ms: part.ms }
    return { path: part.path, output, code: part.failed ? 1 : 0, signal: null, timedOut: false, ms: part.ms }
  })
  return { results, notReached: unit.files.slice(parts.length) }
}

/** A file's TAP output as a subtest of the whole run, as tap's runner shows it. */
function asSubtest(number, path, { output, code, signal, timedOut, ms }) {
  const body = output
    .split('\n')
    .filter((line, index, lines) => line !== '' || index < lines.length - 1)
    .map((line) => (line === '' ? '' : `    ${line}`))
    .join('\n')
  const ok = code === 0 && !signal
  const time = `# time=${ms.toFixed(3)}ms`
  let text = `# Subtest: ${path}\n${body}${body ? '\n' : ''}${ok ? 'ok' : 'not ok'} ${number} - ${path} ${time}\n`
  if (!ok) {
    const reason = timedOut
      ? `timed out after ${timeout} s (--timeout)`
      : signal
        ? `killed by ${signal}`
        : `exit code ${code}`
    text += `  ---\n  file: ${path}\n  reason: ${reason}\n  ...\n`
  }
  return text
}

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

/**
 * Counts one file's TAP stream with a parser of its own, so a "Bail out!" in one file cannot stop the
 * counting of the others. A file that failed (exit code, signal) with no failure in its stream counts as
 * one failure.
 */
function countFile({ output, code, signal }) {
  const parser = new Parser()
  watch(parser, undefined)
  parser.end(output)
  if ((code !== 0 || signal) && parser.failuresBelow === 0) fail(parser)
}

await ensureTapPlugins()
await buildTests()

const units = plan(files)
process.stdout.write('TAP version 14\n')
let next = 0
let finished = 0
async function worker() {
  while (next < units.length) {
    const { results, notReached } = await runProcess(units[next++])
    for (const result of results) {
      lastTimes[result.path] = result.ms
      countFile(result)
      process.stdout.write(asSubtest(++finished, result.path, result))
    }
    // A group whose process ended early: the files it never reached run in a new one.
    if (notReached.length > 0) units.push({ files: notReached, ms: 0 })
  }
}
await Promise.all(Array.from({ length: Math.min(jobs, units.length) }, worker))
process.stdout.write(`1..${files.length}\n`)

await dropRunTemplates()
// Whole or not at all: another run may be reading it.
writeFileSync(`${TIMINGS}.${process.pid}`, JSON.stringify(lastTimes))
renameSync(`${TIMINGS}.${process.pid}`, TIMINGS)
const skipped = counts.skipped > 0 ? `, ${counts.skipped} skipped` : ''
process.stdout.write(`\n${counts.passed} passed, ${counts.failed} failed${skipped}\n`)
process.exit(counts.failed === 0 && files.length > 0 ? 0 : 1)
