#!/usr/bin/env node
// Runs several built test files in one process, one after the other, for scripts/test.mjs:
//
//   node scripts/test-group.mjs FILE…
//
// A test process spends CPU before and around its tests: loading the modules, and compiling the same
// code again as it warms up. The test files all load the same servers; run in one process, they pay
// that once (relay/docs/performance.md has the figures).
//
// Each file is imported inside a subtest named after it, which therefore opens the file's part of the
// TAP stream: its tests run next, then a subtest that closes what the file started at its top level
// (what it gave the root test's teardown: a browser, servers), and only then is the next file imported.
// No two files' tests overlap, nothing of one file outlives it, and the runner can cut the stream back
// into files. A file may run for --timeout seconds (OCHAT_TEST_FILE_TIMEOUT), as when it runs alone;
// past it, the process gets SIGALRM, as a file alone would from the runner: tap fails the test that was
// running and the process ends.
import { pathToFileURL } from 'node:url'
import t from 'tap'

const seconds = Number(process.env.OCHAT_TEST_FILE_TIMEOUT ?? 120)
let alarm

// What a file hands the root test is the file's, not the whole process's: its teardowns run when its
// tests are done, last first, as tap runs them; its own timeout gives way to the one above.
let teardowns = []
t.teardown = (fn) => {
  teardowns.push(fn)
}
t.setTimeout = () => {}

for (const file of process.argv.slice(2)) {
  await t.test(file, async () => {
    clearTimeout(alarm)
    alarm = setTimeout(() => process.kill(process.pid, 'SIGALRM'), seconds * 1000)
    alarm.unref()
    await import(pathToFileURL(file).href)
  })
  await t.test('closes what the file started', async () => {
    const started = teardowns.reverse()
    teardowns = []
    for (const fn of started) await fn()
  })
}
