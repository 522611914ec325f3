#!/usr/bin/env node
// `pnpm screenshots`: PNGs of the node's main pages on a desk (1400 px) and on a phone (390 px), into
// node/docs/screenshots/ (the README shows some). They come from the page tests (pages-desk, pages-phone), which build a
// relay, two companies and sample data, and check every page on the way: a page that no longer fits
// the screen fails here instead of being photographed.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const dir = fileURLToPath(new URL('../node/docs/screenshots/', import.meta.url))

const run = spawnSync(
  process.execPath,
  ['scripts/test.mjs', 'test/browser/pages-desk.test.ts', 'test/browser/pages-phone.test.ts'],
  {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, OCHAT_SCREENSHOTS_DIR: dir },
  },
)
if (run.status === 0) process.stdout.write(`screenshots written to ${dir}\n`)
process.exit(run.status ?? 1)
