// Every route of the relay's OpenAPI document, fuzzed: seeded requests with broken paths, queries, bodies
// (deep nesting, huge strings, wrong types, unicode, empty objects), headers and methods, signed for real
// by registered instances, by a stranger and with the wrong key, or not signed. `pnpm bench fuzz` runs a
// longer one.
import t from 'tap'
import { generateRequests } from '../../test/fuzz/generate.ts'
import { describe, fuzz, fuzzSeed } from '../../test/fuzz/run.ts'
import { relayTarget } from './fuzz-target.ts'

/** Enough to reach every operation about 100 times in CI, within about 20 s on a shared two-core runner. */
const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 2_000)

t.test('no route of the relay answers a 5xx or half-writes anything, whatever it is sent', async (t) => {
  const { relay, target, pools, operations } = await relayTarget(t)
  t.ok(operations.length >= 20, `${operations.length} operations in /docs`)
  const seed = fuzzSeed('fixed')
  const report = await fuzz(target, generateRequests({ operations, pools, seed, count: REQUESTS }))
  t.comment(describe('relay', seed, report))
  t.same(report.problems, [], `no problem (replay with FUZZ_SEED=${seed})`)
  t.equal(report.serverErrors, 0, 'no 5xx')
  t.ok(report.sent > REQUESTS * 0.9, 'the requests were sent')
  t.equal((await relay.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'still alive')
})
