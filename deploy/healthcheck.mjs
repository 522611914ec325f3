#!/usr/bin/env node
// The containers' HEALTHCHECK: GET one URL on this host, exit 0 on a 2xx answer within 3 s, else 1.
// The images are slim (no curl), and Node is already there.
//
//   node healthcheck.mjs http://127.0.0.1:8700/healthz
const url = process.argv[2]
if (!url) {
  process.stderr.write('usage: node healthcheck.mjs URL\n')
  process.exit(2)
}
try {
  const answer = await fetch(url, { signal: AbortSignal.timeout(3000) })
  process.exit(answer.ok ? 0 : 1)
} catch (error) {
  process.stderr.write(`${url}: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
}
