#!/usr/bin/env node
// Runs every test in the workspace with tap and ends with one line, "N passed, N failed", counted from
// the TAP stream: each leaf assertion counts once, and a subtest that failed without a failing assertion
// (an uncaught error, a timeout) counts as one failure, so nothing that broke goes uncounted.
// Extra arguments go to tap, e.g. `pnpm test shared-protocol/test/canonical.test.ts`.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Parser } from 'tap-parser'

const tapBin = fileURLToPath(new URL('../node_modules/.bin/tap', import.meta.url))

const counts = { passed: 0, failed: 0, skipped: 0 }

function watch(parser) {
  let openChildren = 0
  let leafFailures = 0
  parser.on('child', (child) => {
    openChildren++
    child.leafFailuresBefore = counts.failed
    watch(child)
  })
  parser.on('assert', (result) => {
    if (openChildren > 0) {
      // The line that closes a subtest: its assertions were already counted inside it.
      openChildren--
      return
    }
    if (result.skip || result.todo) counts.skipped++
    else if (result.ok) counts.passed++
    else {
      counts.failed++
      leafFailures++
    }
  })
  parser.on('complete', (summary) => {
    // A subtest that failed with no failing assertion of its own (it threw, or timed out).
    if (!summary.ok && leafFailures === 0 && countFailuresBelow(parser) === 0) counts.failed++
  })
}

function countFailuresBelow(parser) {
  return parser.leafFailuresBefore === undefined ? 0 : counts.failed - parser.leafFailuresBefore
}

const root = new Parser()
root.leafFailuresBefore = 0
watch(root)

const child = spawn(tapBin, ['--reporter=tap', ...process.argv.slice(2)], {
  stdio: ['ignore', 'pipe', 'inherit'],
})
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk)
  root.write(chunk)
})
child.on('close', (code) => {
  root.end()
  const skipped = counts.skipped > 0 ? `, ${counts.skipped} skipped` : ''
  process.stdout.write(`\n${counts.passed} passed, ${counts.failed} failed${skipped}\n`)
  process.exit(code === 0 && counts.failed === 0 ? 0 : 1)
})
