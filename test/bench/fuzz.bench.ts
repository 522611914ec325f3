// `pnpm bench fuzz`: the route fuzz of node/test/fuzz.test.ts and relay/test/fuzz.test.ts, longer. Each
// server runs in this process (app.inject, no sockets), the node on a fresh SQLite file and the relay on a
// throwaway PostgreSQL database (127.0.0.1:5432, as the tests). FUZZ_BENCH_REQUESTS sets the requests per
// server, FUZZ_SEED replays a run. Prints requests sent, per-status counts, 5xx and requests per second.
import type { Test } from 'tap'
import { integrity, nodeTarget } from '../../node/test/fuzz-target.ts'
import { relayTarget } from '../../relay/test/fuzz-target.ts'
import { generateRequests } from '../fuzz/generate.ts'
import { describe, fuzz, fuzzSeed } from '../fuzz/run.ts'

const REQUESTS = Number(process.env.FUZZ_BENCH_REQUESTS ?? 20_000)

/** The targets are built for tap tests; here their teardowns run at the end. */
const teardowns: (() => unknown)[] = []
const t = { teardown: (fn: () => unknown) => teardowns.push(fn) } as unknown as Test

let failed = false
try {
  const seed = fuzzSeed('random')
  console.log(`fuzz: ${REQUESTS} requests per server, in process (app.inject), seed ${seed}`)
  const node = await nodeTarget(t)
  const nodeReport = await fuzz(node.target, generateRequests({ ...node, seed, count: REQUESTS }))
  console.log(describe('node', seed, nodeReport))
  const alive = (await node.node.app.inject({ method: 'GET', url: '/healthz' })).statusCode === 200
  console.log(
    `node: /healthz ${alive ? 'answers' : 'DOES NOT ANSWER'}; database ${JSON.stringify(integrity(node.node))}`,
  )

  const relay = await relayTarget(t)
  const relayReport = await fuzz(relay.target, generateRequests({ ...relay, seed, count: REQUESTS }))
  console.log(describe('relay', seed, relayReport))
  const relayAlive = (await relay.relay.app.inject({ method: 'GET', url: '/healthz' })).statusCode === 200
  console.log(`relay: /healthz ${relayAlive ? 'answers' : 'DOES NOT ANSWER'}`)

  for (const problem of [...nodeReport.problems, ...relayReport.problems])
    console.log(`  problem: ${problem}`)
  failed = nodeReport.problems.length + relayReport.problems.length > 0 || !alive || !relayAlive
} finally {
  for (const teardown of teardowns.reverse()) await teardown()
}
process.exit(failed ? 1 : 0)
