// Automation figures for `pnpm bench automation`. The node runs as its own process on a fresh SQLite
// file; the bench drives it over its REST API with an administrator's API key and reads its database
// read-only to see what it did. Each figure is a function in FIGURES, run in order (BENCH_AUTOMATION_ONLY
// picks some by name), every one the median of RUNS runs, its baseline paired with each run.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Sqlite from 'better-sqlite3'
import { Agent, Pool, request } from 'undici'
import { median, report } from '../../shared-protocol/bench/measure.ts'
import { SCOPES } from '../src/auth/scopes.ts'
import { randomToken, sha256 } from '../src/auth/tokens.ts'
import { loadConfig } from '../src/config.ts'
import { openDatabase } from '../src/db/client.ts'
import { apiKeys } from '../src/db/schema.ts'
import { ModelRegistry } from '../src/models/registry.ts'
import { ensureBaseData } from '../src/models/seed.ts'
import { createUser } from '../src/people/create-user.ts'
import { type Context, call, RUNS, WRITERS } from './automation-api.ts'
import { rulesOnPosts, rulesOnQuietUpdates, rulesOnUpdates } from './automation-rules.ts'
import { schedulerFirings } from './automation-scheduler.ts'
import { freePort } from './ports.ts'

const ONLY = process.env.BENCH_AUTOMATION_ONLY
/** Set to a directory to have the node write a CPU profile there (`node --cpu-prof`) when it stops. */
const PROFILE_DIR = process.env.BENCH_AUTOMATION_PROFILE

/** Records created a run; each queues one message per endpoint. */
const EVENTS = Number(process.env.BENCH_AUTOMATION_EVENTS ?? 200)
/** Endpoints subscribed to every event type, spread over the receivers. */
const ENDPOINTS = Number(process.env.BENCH_AUTOMATION_ENDPOINTS ?? 10)
/** Deliveries at once to each endpoint (the endpoint's own setting; the node's default is 4). */
const ENDPOINT_CONCURRENCY = Number(process.env.BENCH_AUTOMATION_CONCURRENCY ?? 20)
/** node:http servers answering 204, all in one process apart from the node. */
const RECEIVERS = 4

const FIGURES: { name: string; run: (context: Context) => Promise<void> }[] = [
  { name: 'webhooks', run: webhookFanOut },
  { name: 'rules-posts', run: rulesOnPosts },
  { name: 'rules-updates', run: rulesOnUpdates },
  { name: 'rules-updates-quiet', run: rulesOnQuietUpdates },
  // In process with a fake clock, apart from the node above.
  { name: 'scheduler', run: () => schedulerFirings(RUNS) },
]

const dataDir = mkdtempSync(join(tmpdir(), 'ochat-automation-bench-'))
const port = await freePort()
const env = {
  NODE_DATA_DIR: dataDir,
  NODE_PORT: String(port),
  NODE_LOG_LEVEL: 'warn',
  NODE_WEBHOOK_ALLOWLIST: '127.0.0.1',
}
const file = loadConfig(env).databaseFile
const secret = await seed(file)
const receivers = await startReceivers()
const node = await startNode()
const baseUrl = `http://127.0.0.1:${port}`
const api = new Pool(baseUrl, { connections: WRITERS })
const sqlite = new Sqlite(file, { readonly: true })
try {
  console.log(
    `automation: node in its own process, SQLite (WAL); median of ${RUNS} runs (BENCH_AUTOMATION_RUNS)`,
  )
  console.log(`  (machine: ${loadAverage()})`)
  const context = { baseUrl, api, secret, sqlite, receivers: receivers.ports, pid: node.pid as number }
  for (const figure of FIGURES) if (!ONLY || ONLY.split(',').includes(figure.name)) await figure.run(context)
  console.log(`  (machine: ${loadAverage()})`)
} finally {
  sqlite.close()
  await api.close()
  await stopNode(node)
  receivers.child.kill('SIGTERM')
  rmSync(dataDir, { recursive: true, force: true })
}

/**
 * Outbound webhooks: ENDPOINTS endpoints, each wanting every event, on local receivers; EVENTS records
 * created through the API as fast as WRITERS clients go, each queuing a message per endpoint in its
 * transaction. A run lasts from the first create sent to the last message delivered, as the bench
 * sees the queue. Baseline, paired with each run: undici alone POSTing the run's own bodies to the
 * same receivers, at the same concurrency per endpoint.
 */
async function webhookFanOut(context: Context): Promise<void> {
  const endpoints: { id: number; url: string }[] = []
  for (let i = 0; i < ENDPOINTS; i++) {
    const url = `http://127.0.0.1:${context.receivers[i % context.receivers.length]}/hooks/${i}`
    const created = await call(context, 'POST', '/api/v1/webhooks/endpoints', {
      url,
      description: `bench receiver ${i}`,
      events: [],
      concurrency: ENDPOINT_CONCURRENCY,
    })
    endpoints.push({ id: (created as { id: number }).id, url })
  }
  const urls = new Map(endpoints.map((endpoint) => [endpoint.id, endpoint.url]))
  console.log(
    `webhooks: ${ENDPOINTS} endpoints (every event, ${ENDPOINT_CONCURRENCY} at once each) on ${RECEIVERS} ` +
      `local receivers answering 204; ${EVENTS} records created a run over ${WRITERS} API clients ` +
      '(BENCH_AUTOMATION_EVENTS).',
  )
  // A connection for every call at once: endpoints sharing a receiver share its origin's pool.
  const baseline = new Agent({ connections: ENDPOINT_CONCURRENCY * Math.ceil(ENDPOINTS / RECEIVERS) })
  try {
    // Warm-up of both: JIT, connections, SQLite's cache.
    const warm = await fanOutRun(context, Math.min(50, EVENTS))
    await baselineRun(context, baseline, warm.bodies, urls)
    const nodeRuns: FanOut[] = []
    const baseRuns: number[] = []
    for (let run = 0; run < RUNS; run++) {
      const result = await fanOutRun(context, EVENTS)
      nodeRuns.push(result)
      baseRuns.push(await baselineRun(context, baseline, result.bodies, urls))
    }
    report({
      name: 'baseline: undici POSTing the same bodies',
      unit: '/s',
      runs: baseRuns,
    })
    report({
      name: 'node: record created → delivered (target ≥ 1,000)',
      unit: '/s',
      runs: nodeRuns.map((result) => result.rate),
    })
    const types = [...new Set(nodeRuns.flatMap((result) => result.types))].join(', ')
    console.log(`  deliveries a run: ${nodeRuns.map((result) => result.bodies.length).join(', ')} (${types})`)
    const ratios = nodeRuns.map((result, i) => result.rate / (baseRuns[i] as number))
    console.log(
      `${'  the node against the baseline (median of pairs)'.padEnd(58)} ${`${Math.round(median(ratios) * 100)}`.padStart(10)} %`,
    )
    report({
      name: '  the records created through the API',
      unit: '/s',
      runs: nodeRuns.map((result) => result.createRate),
    })
    report({ name: '  queued → delivered, p50', unit: 'ms', runs: nodeRuns.map((result) => result.p50) })
    report({ name: '  queued → delivered, p99', unit: 'ms', runs: nodeRuns.map((result) => result.p99) })
  } finally {
    await baseline.close()
    // The figures after this one measure the node's own writes, without deliveries beside them.
    for (const endpoint of endpoints)
      await call(context, 'DELETE', `/api/v1/webhooks/endpoints/${endpoint.id}`)
  }
}

type FanOut = {
  rate: number
  createRate: number
  p50: number
  p99: number
  bodies: { endpointId: number; payload: string }[]
  /** The event types the records' creation queued. */
  types: string[]
}

async function fanOutRun(context: Context, events: number): Promise<FanOut> {
  const { sqlite } = context
  const after = (
    sqlite.prepare('select coalesce(max(id), 0) as id from webhook_messages').get() as { id: number }
  ).id
  const counts = sqlite.prepare(
    `select count(*) as total, count(*) filter (where status = 'delivered') as delivered,
            count(*) filter (where attempts > 0 and status <> 'delivered') as failed
       from webhook_messages where id > ?`,
  )
  const started = performance.now()
  let next = 0
  await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      while (next < events) {
        const n = next++
        await call(context, 'POST', '/api/v1/models/lead/records', { values: { name: `Bench lead ${n}` } })
      }
    }),
  )
  const created = performance.now()
  const deadline = created + 120_000
  for (;;) {
    const row = counts.get(after) as { total: number; delivered: number; failed: number }
    if (row.failed > 0) throw new Error(`${row.failed} deliveries failed`)
    if (row.total > 0 && row.delivered === row.total) break
    if (performance.now() > deadline) throw new Error(`only ${row.delivered} of ${row.total} delivered`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  const ended = performance.now()
  const rows = sqlite
    .prepare(
      `select endpoint_id as endpointId, type, payload, created_at as createdAt, delivered_at as deliveredAt
         from webhook_messages where id > ? order by id`,
    )
    .all(after) as {
    endpointId: number
    type: string
    payload: string
    createdAt: number
    deliveredAt: number
  }[]
  if (rows.length < events * ENDPOINTS) throw new Error(`${rows.length} messages for ${events} records`)
  const waits = rows.map((row) => row.deliveredAt - row.createdAt).sort((a, b) => a - b)
  return {
    rate: rows.length / ((ended - started) / 1000),
    createRate: events / ((created - started) / 1000),
    p50: waits[Math.floor(waits.length * 0.5)] ?? 0,
    p99: waits[Math.min(waits.length - 1, Math.floor(waits.length * 0.99))] ?? 0,
    bodies: rows.map(({ endpointId, payload }) => ({ endpointId, payload })),
    types: [...new Set(rows.map((row) => row.type))],
  }
}

/** The bodies POSTed by undici alone, each endpoint's at most ENDPOINT_CONCURRENCY at once. */
async function baselineRun(
  context: Context,
  agent: Agent,
  bodies: FanOut['bodies'],
  urls: Map<number, string>,
): Promise<number> {
  const before = await receivedCount(context)
  const byEndpoint = new Map<number, FanOut['bodies']>()
  for (const body of bodies) {
    const list = byEndpoint.get(body.endpointId)
    if (list) list.push(body)
    else byEndpoint.set(body.endpointId, [body])
  }
  const started = performance.now()
  await Promise.all(
    [...byEndpoint].flatMap(([endpointId, list]) => {
      const url = urls.get(endpointId) as string
      let next = 0
      return Array.from({ length: ENDPOINT_CONCURRENCY }, async () => {
        while (next < list.length) {
          const body = (list[next++] as FanOut['bodies'][number]).payload
          const answer = await request(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body,
            dispatcher: agent,
          })
          await answer.body.dump()
          if (answer.statusCode !== 204) throw new Error(`a receiver answered ${answer.statusCode}`)
        }
      })
    }),
  )
  const rate = bodies.length / ((performance.now() - started) / 1000)
  if ((await receivedCount(context)) - before < bodies.length) throw new Error('a receiver missed a POST')
  return rate
}

async function receivedCount(context: Context): Promise<number> {
  const answer = await request(`http://127.0.0.1:${context.receivers[0]}/count`)
  return Number(await answer.body.text())
}

function loadAverage(): string {
  return `load average ${readFileSync('/proc/loadavg', 'utf8').split(' ', 3).join(' ')}`
}

async function startReceivers(): Promise<{ child: ChildProcess; ports: number[] }> {
  const child = spawn(
    process.execPath,
    ['--import=tsx', fileURLToPath(new URL('./webhook-receivers.ts', import.meta.url))],
    { env: { ...process.env, RECEIVERS: String(RECEIVERS) }, stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const ports = await new Promise<number[]>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the receivers exited with ${code}`)))
    child.stdout?.once('data', (chunk: Buffer) => resolve(JSON.parse(chunk.toString('utf8'))))
  })
  return { child, ports }
}

/** The node on the bench's data directory, answering once it is ready. */
async function startNode(): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      ...(PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : []),
      fileURLToPath(new URL('../bin/ochat-node.mjs', import.meta.url)),
      'serve',
    ],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit'] },
  )
  const url = `http://127.0.0.1:${port}/healthz`
  for (let attempt = 0; attempt < 200; attempt++) {
    if (child.exitCode !== null) throw new Error(`the node exited with ${child.exitCode}`)
    try {
      if ((await fetch(url)).ok) return child
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`${url} never became ready`)
}

async function stopNode(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await exited
}

/** An administrator with an API key of every scope: webhook endpoints are theirs to manage. */
async function seed(databaseFile: string): Promise<string> {
  const database = openDatabase(databaseFile)
  const db = database.db
  const now = Date.now()
  ensureBaseData({ db, registry: new ModelRegistry(), now })
  const { user } = await createUser({
    db,
    user: {
      login: 'admin',
      password: 'unused-password',
      name: 'Ada Admin',
      email: 'ada@acme.example',
      role: 'admin',
      notification: 'inbox',
      timeZone: 'UTC',
    },
    now,
    passwordHash: 'scrypt$16384$8$1$c2FsdA$aGFzaA',
  })
  const key = `ock_bench_${randomToken()}`
  db.insert(apiKeys)
    .values({
      userId: user.id,
      name: 'bench',
      prefix: 'bench',
      secretHash: sha256(key),
      scopes: [...SCOPES],
      createdAt: now,
    })
    .run()
  database.close()
  return key
}
