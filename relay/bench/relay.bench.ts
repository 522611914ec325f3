// Relay figures for `pnpm bench`. The relay runs as its own process on a throwaway PostgreSQL
// database; each ratio pairs every measured run with a baseline run just before it, in the same invocation.
// Every figure is the median of several runs.
import { createServer } from 'node:http'
import {
  generateIdentityKeyPair,
  newId,
  signDetached,
  verifyDetached,
  type WebhookBody,
} from '@ochat/shared-protocol'
import postgres from 'postgres'
import { asyncRuns, median, opsPerSecond, report } from '../../shared-protocol/bench/measure.ts'
import { deliveredReceipts } from '../test/receipts.ts'
import { type BenchNode, benchNode, client, seal, startBareServer, startRelayProcess } from './harness.ts'
import { benchSocket } from './socket.ts'
import { queuedStorage } from './storage.ts'

const RUNS = 3
/** Ratios against the baseline: this many (baseline run, measured run) pairs. */
const PAIRS = 5
const SECONDS = 3

const relay = await startRelayProcess()
/** Reads figures the relay stored (Delivered times) from its database. */
const database = postgres(relay.databaseUrl, { max: 1, onnotice: () => {} })
const http = client(relay.baseUrl, relay.relayId)
const bare = await startBareServer()
const bareClient = client(bare.baseUrl, relay.relayId)

try {
  const acme = benchNode('Acme')
  const globex = benchNode('Globex')
  // The accept runs write to a node that never connects, so their backlog does not slow the others.
  const sink = benchNode('Sink')
  for (const node of [acme, globex, sink]) await http.register(node)
  await http.connect(acme, globex)
  await http.connect(acme, sink)
  // Sealing is the client's cost, not the relay's: envelopes are sealed before the clock starts.
  // Each submit carries a fresh id, so every one is a real insert, not a duplicate. The client splices the
  // id into text serialised before the clock starts, so the load generator spends its time sending.
  const sinkTexts = Array.from({ length: 5_000 }, () => envelopeText(seal(acme, sink)))
  const globexTexts = Array.from({ length: 5_000 }, () => envelopeText(seal(acme, globex)))
  let next = 0
  const take = (pool = sinkTexts) => {
    const id = newId()
    return { id, text: `[${pool[next++ % pool.length]?.(id)}]` }
  }
  console.log(
    `relay: PostgreSQL, relay in its own process; ${SECONDS} s per run, median of ${RUNS} ` +
      `(${PAIRS} for figures paired with a baseline); 1 KiB messages`,
  )

  // A shared machine's speed drifts within a minute, so each ratio pairs every relay run with a
  // baseline run just before it, and quotes the median of the pairs' ratios.
  const bareRun = () =>
    closedLoop(64, () => bareClient.call(undefined, 'POST', '/v1/envelopes', `{"envelopes":${take().text}}`))

  // 1. Durable accept over the sender's WebSocket, against a bare Fastify route with zod validation.
  const wsAcceptRun = async () => {
    let done = 0
    let inflight = 0
    let resolveTick: () => void = () => {}
    const socket = await benchSocket(relay.baseUrl, acme, {
      onSubmitted: () => {
        done++
        inflight--
        resolveTick()
      },
    })
    const until = Date.now() + SECONDS * 1000
    const started = Date.now()
    while (Date.now() < until) {
      while (inflight < 256) {
        socket.submitText(take().text)
        inflight++
      }
      await new Promise<void>((resolve) => {
        resolveTick = resolve
      })
    }
    const rate = done / ((Date.now() - started) / 1000)
    await socket.close()
    return rate
  }
  await bareRun() // warm-up
  await wsAcceptRun()
  const acceptPairs = await paired(PAIRS, bareRun, wsAcceptRun)
  report({
    name: 'baseline: bare Fastify POST + zod, 1 envelope/request',
    unit: 'req/s',
    runs: acceptPairs.map((pair) => pair.baseline),
  })
  report({
    name: 'durable accept over the sender WebSocket, 1 envelope/frame',
    unit: 'env/s',
    runs: acceptPairs.map((pair) => pair.measured),
  })
  reportRatio(acceptPairs, 50)

  // 2. Signed single-envelope HTTP requests, beside the relay's cost of one Ed25519 verify per request.
  const httpAccept = await asyncRuns(
    () => closedLoop(64, () => http.call(acme, 'POST', '/v1/envelopes', `{"envelopes":${take().text}}`)),
    RUNS,
  )
  report({ name: 'durable accept over signed HTTP, 1 envelope/request', unit: 'req/s', runs: httpAccept })
  const pair = generateIdentityKeyPair()
  const message = new Uint8Array(300)
  const signature = signDetached(message, pair.secretKey)
  report({
    name: 'beside: one Ed25519 verify (node:crypto), per core',
    unit: 'ops/s',
    runs: opsPerSecond(() => verifyDetached(message, signature, pair.publicKey)),
  })

  // 3. End to end over WebSockets: submit → relay → recipient stores and receipts → receipt at the sender.
  // Two latencies per envelope. The main one: from the client's submit to the Delivered receipt stored,
  // read back from `envelopes.delivered_at` (epoch ms on this machine's clock, set by the relay as the
  // ack batch carrying the receipt begins its transaction: before that batch's commit, which follows
  // by the batch's own write time). And a stricter one, measured at the client alone: until the receipt
  // is back at the sender's socket, after a second trip through the durable queue.
  const receiver = await benchSocket(relay.baseUrl, globex)
  const e2e = async (ratePerSecond: number | undefined) => {
    const sentAt = new Map<string, number>()
    /** Submit times as epoch ms, comparable with the relay's `delivered_at`. */
    const submittedAt = new Map<string, number>()
    const latencies: number[] = []
    const socket = await benchSocket(relay.baseUrl, acme, {
      onReceipt: (ids) => {
        for (const id of ids) {
          const at = sentAt.get(id)
          if (at !== undefined) latencies.push(performance.now() - at)
          sentAt.delete(id)
        }
      },
    })
    const started = performance.now()
    const until = started + SECONDS * 1000
    let sent = 0
    while (performance.now() < until) {
      const target =
        ratePerSecond === undefined
          ? Number.POSITIVE_INFINITY
          : ((performance.now() - started) / 1000) * ratePerSecond
      // At most 512 outstanding; paced runs also keep to their rate.
      while (sentAt.size < 512 && sent < target) {
        const envelope = take(globexTexts)
        sentAt.set(envelope.id, performance.now())
        submittedAt.set(envelope.id, Date.now())
        socket.submitText(envelope.text)
        sent++
      }
      await new Promise((resolve) => setTimeout(resolve, 1))
    }
    const drainUntil = performance.now() + 5000
    while (sentAt.size > 0 && performance.now() < drainUntil)
      await new Promise((resolve) => setTimeout(resolve, 10))
    const elapsed = (performance.now() - started) / 1000
    await socket.close()
    latencies.sort((a, b) => a - b)
    const stored = (await database`
      select id::text, delivered_at from envelopes
      where id = any(${[...submittedAt.keys()]}::uuid[]) and delivered_at is not null`) as {
      id: string
      delivered_at: string
    }[]
    const storedLatencies = stored
      .map((row) => Number(row.delivered_at) - (submittedAt.get(row.id) ?? Number.NaN))
      .sort((a, b) => a - b)
    return {
      rate: latencies.length / elapsed,
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      storedP50: percentile(storedLatencies, 0.5),
      storedP99: percentile(storedLatencies, 0.99),
      /** Submitted envelopes with no Delivered receipt stored by the end of the run. */
      unstored: submittedAt.size - stored.length,
    }
  }
  const maxRuns: Awaited<ReturnType<typeof e2e>>[] = []
  const e2ePairs = await paired(PAIRS, bareRun, async () => {
    const run = await e2e(undefined)
    maxRuns.push(run)
    return run.rate
  })
  report({
    name: 'baseline: bare Fastify POST + zod (beside each run)',
    unit: 'req/s',
    runs: e2ePairs.map((pair) => pair.baseline),
  })
  const e2eFigure = report({
    name: 'end to end over WebSockets, submit → Delivered receipt back',
    unit: 'env/s',
    runs: maxRuns.map((run) => run.rate),
  })
  reportRatio(e2ePairs, 25)
  // Beside each half-load run, a one-row insert committed every 5 ms on the same PostgreSQL: no relay
  // latency can be below the database's own commit time, and a disk stalls commits now and then (a
  // checkpoint's or the kernel's writeback).
  await database`create table bench_commits (at bigint)`
  const halfRuns = []
  const commitRuns: number[][] = []
  for (let run = 0; run < RUNS; run++) {
    const commits = sampleCommits(relay.databaseUrl)
    halfRuns.push(await e2e(e2eFigure.median / 2))
    commitRuns.push(await commits.stop())
  }
  console.log(`  at half load (${Math.round(e2eFigure.median / 2)}/s):`)
  report({
    name: '  submit → Delivered receipt stored (delivered_at), p50',
    unit: 'ms',
    runs: halfRuns.map((run) => run.storedP50),
  })
  report({
    name: '  submit → Delivered receipt stored, p99 (target ≤ 50 ms)',
    unit: 'ms',
    runs: halfRuns.map((run) => run.storedP99),
  })
  report({
    name: '  submit → Delivered receipt back at the sender, p50',
    unit: 'ms',
    runs: halfRuns.map((run) => run.p50),
  })
  report({
    name: '  submit → Delivered receipt back at the sender, p99',
    unit: 'ms',
    runs: halfRuns.map((run) => run.p99),
  })
  report({
    name: '  beside: a one-row commit on the same PostgreSQL, p99',
    unit: 'ms',
    runs: commitRuns.map((latencies) => percentile(latencies, 0.99)),
  })
  report({
    name: '  beside: the slowest such commit',
    unit: 'ms',
    runs: commitRuns.map((latencies) => latencies.at(-1) ?? Number.NaN),
  })
  const unstored = [...maxRuns, ...halfRuns].reduce((sum, run) => sum + run.unstored, 0)
  if (unstored > 0)
    console.log(`  ! ${unstored} envelopes had no Delivered receipt stored by the end of their run`)
  await receiver.close()

  // 4. Webhook delivery: the recipient has no socket; the relay POSTs batches, the node answers with receipts.
  const hookNode = benchNode('Hooked')
  const hookServer = await webhookServer(hookNode)
  await http.register(hookNode, hookServer.url)
  await http.connect(acme, hookNode)
  const hookRuns = []
  for (let run = 0; run < RUNS; run++) {
    const total = 3000
    const before = hookServer.received()
    const started = performance.now()
    const envelopes = Array.from({ length: total }, () => seal(acme, hookNode, '<p>hook</p>'))
    for (let start = 0; start < total; start += 500)
      await http.call(acme, 'POST', '/v1/envelopes', { envelopes: envelopes.slice(start, start + 500) })
    while (hookServer.received() - before < total) await new Promise((resolve) => setTimeout(resolve, 5))
    hookRuns.push(total / ((performance.now() - started) / 1000))
  }
  report({ name: 'webhook delivery (POSTs of ≤ 50, receipts in the answer)', unit: 'env/s', runs: hookRuns })
  await hookServer.close()

  // 5. Bulk: one submit to 1,000 recipients, until the last one has it.
  const recipients = Array.from({ length: 1000 }, (_, index) => benchNode(`Peer ${index}`))
  await Promise.all(recipients.map((peer) => http.register(peer)))
  await Promise.all(recipients.map((peer) => http.connect(acme, peer)))
  let delivered = 0
  const sockets = []
  for (let start = 0; start < recipients.length; start += 100) {
    sockets.push(
      ...(await Promise.all(
        recipients
          .slice(start, start + 100)
          .map((peer) => benchSocket(relay.baseUrl, peer, { onEnvelopes: (count) => (delivered += count) })),
      )),
    )
  }
  let receipted = 0
  const bulkSender = await benchSocket(relay.baseUrl, acme, { onReceipt: (ids) => (receipted += ids.length) })
  const bulkRuns = []
  const receiptRuns = []
  for (let run = 0; run < RUNS; run++) {
    const envelopes = recipients.map((peer) => seal(acme, peer))
    const before = delivered
    const receiptsBefore = receipted
    const started = performance.now()
    await http.call(acme, 'POST', '/v1/envelopes', { envelopes })
    while (delivered - before < recipients.length) await new Promise((resolve) => setTimeout(resolve, 2))
    bulkRuns.push(performance.now() - started)
    // Each run starts from a quiet relay: every Delivered receipt is back at the sender first.
    while (receipted - receiptsBefore < recipients.length)
      await new Promise((resolve) => setTimeout(resolve, 2))
    receiptRuns.push(performance.now() - started)
  }
  report({
    name: 'bulk send to 1,000 recipients, submit → last delivered (target ≤ 1 s)',
    unit: 'ms',
    runs: bulkRuns,
  })
  report({ name: '  … → last Delivered receipt back at the sender', unit: 'ms', runs: receiptRuns })
  await bulkSender.close()
  await Promise.all(sockets.map((socket) => socket.close()))
} finally {
  await database.end()
  await http.close()
  await bareClient.close()
  bare.stop()
  await relay.stop()
}

// 6. Disk: a backlog for a partner that stays offline, on a relay and database of its own.
const storage = await queuedStorage(100_000)
console.log(
  `queued for an offline partner: ${storage.count.toLocaleString('en-US')} envelopes of a 1 KiB message`,
)
report({ name: '  envelope JSON as submitted', unit: 'B', runs: [storage.envelopeBytes] })
report({
  name: '  PostgreSQL per queued envelope (target ≤ 2,400)',
  unit: 'B',
  runs: [storage.bytesPerEnvelope],
})
for (const [table, bytes] of Object.entries(storage.byTable))
  report({ name: `    of which ${table}, with its indexes`, unit: 'B', runs: [bytes] })

/** The value at quantile `q` of sorted values (NaN when empty). */
function percentile(sorted: number[], q: number): number {
  return sorted[Math.floor(sorted.length * q)] ?? Number.NaN
}

/** Commits a one-row insert every 5 ms until stopped; `stop` gives the commit times in ms, sorted. */
function sampleCommits(databaseUrl: string) {
  // Its own connection: the run's other queries must not delay it.
  const database = postgres(databaseUrl, { max: 1, onnotice: () => {} })
  const latencies: number[] = []
  let sampling = true
  const loop = (async () => {
    await database`select 1` // connects: not a commit time
    while (sampling) {
      const started = performance.now()
      await database`insert into bench_commits values (${Date.now()})`
      latencies.push(performance.now() - started)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  })()
  return {
    async stop() {
      sampling = false
      await loop
      await database.end()
      return latencies.sort((a, b) => a - b)
    },
  }
}

/** The envelope's JSON text, as a function of the envelope id. */
function envelopeText(envelope: ReturnType<typeof seal>): (id: string) => string {
  const [before = '', after = ''] = JSON.stringify(envelope).split(envelope.header.id)
  return (id) => `${before}${id}${after}`
}

type Pair = { baseline: number; measured: number }

/** `count` times: a baseline run, then a measured run right after it, on the same machine state. */
async function paired(count: number, baseline: () => Promise<number>, measured: () => Promise<number>) {
  const pairs: Pair[] = []
  for (let pair = 0; pair < count; pair++)
    pairs.push({ baseline: await baseline(), measured: await measured() })
  return pairs
}

/** The median of the pairs' ratios, each measured run against the baseline run just before it. */
function reportRatio(pairs: Pair[], targetPercent: number): void {
  const ratios = pairs.map((pair) => (pair.measured / pair.baseline) * 100)
  console.log(
    `  → ${median(ratios).toFixed(0)}% of the bare route run beside it (target ≥ ${targetPercent}%; ` +
      `median of ${pairs.length} pairs: ${ratios.map((ratio) => `${ratio.toFixed(0)}%`).join(', ')})`,
  )
}

/** `concurrency` loops each doing one call after another for SECONDS; returns calls per second. */
async function closedLoop(concurrency: number, call: () => Promise<unknown>): Promise<number> {
  const until = Date.now() + SECONDS * 1000
  let count = 0
  const started = Date.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < until) {
        await call()
        count++
      }
    }),
  )
  return count / ((Date.now() - started) / 1000)
}

async function webhookServer(node: BenchNode) {
  let received = 0
  const server = createServer((request, response) => {
    const parts: Buffer[] = []
    request.on('data', (chunk: Buffer) => parts.push(chunk))
    request.on('end', () => {
      const body = JSON.parse(Buffer.concat(parts).toString('utf8')) as WebhookBody
      received += body.items.filter((item) => item.type === 'envelope').length
      const receipts = deliveredReceipts(node, body.items, Date.now())
      response.writeHead(200, { 'content-type': 'application/json' })
      response.end(
        JSON.stringify({ v: 1, results: body.items.map((item) => ({ ok: true, id: item.id })), receipts }),
      )
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  return {
    url: `http://127.0.0.1:${address && typeof address === 'object' ? address.port : 0}/ochat/webhook`,
    received: () => received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
