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

const root = new Parser()
watch(root, undefined)

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
