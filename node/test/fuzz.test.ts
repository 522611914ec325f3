// Every route of the node's OpenAPI document, fuzzed: seeded requests with broken paths, queries, bodies
// (deep nesting, huge strings, wrong types, unicode, empty objects), headers and methods, as an
// administrator, a user, a narrow API key, a UI session, and nobody. `pnpm bench fuzz` runs a longer one.
import t from 'tap'
import { generateRequests } from '../../test/fuzz/generate.ts'
import { describe, fuzz, fuzzSeed } from '../../test/fuzz/run.ts'
import { integrity, nodeTarget } from './fuzz-target.ts'

/** Enough to reach every operation about 25 times, few enough to keep the file short in CI. */
const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 2_000)

t.test('no route of the node answers a 5xx or half-writes anything, whatever it is sent', async (t) => {
  const { node, target, pools, operations } = await nodeTarget(t)
  t.ok(operations.length > 80, `${operations.length} operations in /docs`)
  const seed = fuzzSeed('fixed')
  const report = await fuzz(target, generateRequests({ operations, pools, seed, count: REQUESTS }))
  t.comment(describe('node', seed, report))
  t.same(report.problems, [], `no problem (replay with FUZZ_SEED=${seed})`)
  t.equal(report.serverErrors, 0, 'no 5xx')
  t.ok(report.sent > REQUESTS * 0.9, 'the requests were sent')
  t.equal((await node.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'still alive')
  t.same(integrity(node), { check: 'ok', foreignKeys: 0 }, 'the database is whole')
})
