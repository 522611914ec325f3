// Incoming-mail figures for `pnpm bench mail-in`. The node runs as its own process on a fresh SQLite
// file with its SMTP listener on; the bench plays other companies' mail servers (smtp-load.ts): new
// customers writing to sales@ (the node makes a lead) and customers answering the node's emails (the
// node posts on the record), a quarter of them with a small PDF. The listener answers 250 only once
// the intake's transaction has committed, so DATA end → 250 is the whole intake. Baseline, paired
// with each run: smtp-server in its own process reading each message and discarding it, driven by the
// same client. Then a 25 MB message, with the node's peak RSS growth while it takes it in.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Sqlite from 'better-sqlite3'
import { eq } from 'drizzle-orm'
import { simpleParser } from 'mailparser'
import { SMTPServer } from 'smtp-server'
import { median, report } from '../../shared-protocol/bench/measure.ts'
import { SCOPES } from '../src/auth/scopes.ts'
import { randomToken, sha256 } from '../src/auth/tokens.ts'
import { loadConfig } from '../src/config.ts'
import { openDatabase } from '../src/db/client.ts'
import { apiKeys, followers, mailAliases, partners, records } from '../src/db/schema.ts'
import { ModelRegistry } from '../src/models/registry.ts'
import { ensureBaseData } from '../src/models/seed.ts'
import { createUser } from '../src/people/create-user.ts'
import { largeReply, newLead, type ReplyTarget, reply } from './mail-in-messages.ts'
import { freePort } from './ports.ts'
import { type LoadResult, type Prepared, percentile, sendLoad } from './smtp-load.ts'

const RUNS = Number(process.env.BENCH_MAIL_IN_RUNS ?? 3)
/** Messages a run: half new leads, half replies. */
const MESSAGES = Number(process.env.BENCH_MAIL_IN_MESSAGES ?? 400)
/**
 * Connections at once: a sending MTA delivers to one destination over several (Postfix starts at 5
 * and goes up to 20), and a company's mail comes from a few of them.
 */
const CONNECTIONS = Number(process.env.BENCH_MAIL_IN_CONNECTIONS ?? 8)
/** The rate the target names: its latency is measured with mail arriving at that pace. */
const TARGET_RATE = 200
/** Messages a connection carries before it closes: under the listener's per-client minute limit. */
const PER_CONNECTION = 20
/** Records whose customer answers; replies cycle through them (each customer writes a few times). */
const TARGETS = 200
const LARGE_BYTES = 24_900_000
const DOMAIN = 'acme.example'
/** Set to a directory to have the node write a CPU profile there (`node --cpu-prof`) when it stops. */
const PROFILE_DIR = process.env.BENCH_MAIL_IN_PROFILE

// The node's own outgoing mail (the emails the customers answer, and notices) lands here.
const outgoing: Buffer[] = []
const sink = new SMTPServer({
  authOptional: true,
  disabledCommands: ['AUTH', 'STARTTLS'],
  logger: false,
  onData(stream, _session, callback) {
    const chunks: Buffer[] = []
    stream.on('data', (chunk: Buffer) => chunks.push(chunk))
    stream.on('end', () => {
      outgoing.push(Buffer.concat(chunks))
      callback()
    })
  },
})
const sinkPort = await freePort()
await new Promise<void>((resolve) => sink.listen(sinkPort, '127.0.0.1', resolve))

const dataDir = mkdtempSync(join(tmpdir(), 'ochat-mail-in-bench-'))
const port = await freePort()
const smtpPort = await freePort()
const env = {
  NODE_DATA_DIR: dataDir,
  NODE_PORT: String(port),
  NODE_LOG_LEVEL: 'warn',
  NODE_SMTP_URL: `smtp://127.0.0.1:${sinkPort}?security=none`,
  NODE_MAIL_FROM: `notifications@${DOMAIN}`,
  NODE_MAIL_DOMAIN: DOMAIN,
  NODE_SMTP_PORT: String(smtpPort),
  NODE_SMTP_HOST: '127.0.0.1',
}
const seeded = await seed(loadConfig(env).databaseFile)
const baseUrl = `http://127.0.0.1:${port}`
let node = await startNode()
const bare = await startBare()
try {
  console.log(
    `mail-in: node in its own process, SQLite (WAL), its SMTP listener; ${MESSAGES} messages a run ` +
      `(half new leads, half replies; a quarter with a 40 KiB PDF) over ${CONNECTIONS} connections, ` +
      `median of ${RUNS}. Latency: client's DATA end → the listener's 250, sent after the intake's commit.`,
  )
  const targets = await replyTargets(seeded)
  let batch = 0
  const prepare = async (count: number): Promise<Prepared[]> => {
    batch++
    return Promise.all(
      Array.from({ length: count }, (_, i) =>
        i % 2 === 0
          ? newLead({ from: `buyer${batch}.${i}@prospect${i % 50}.example`, to: `sales@${DOMAIN}`, n: i })
          : reply(targets[(batch * count + i) % targets.length] as ReplyTarget, i),
      ),
    )
  }
  const run = async (target: number, messages: Prepared[], rate?: number) => {
    const result = await sendLoad({
      port: target,
      messages,
      connections: CONNECTIONS,
      perConnection: PER_CONNECTION,
      ...(rate === undefined ? {} : { rate }),
    })
    for (const [response, times] of result.refused) console.log(`  ! ${times} answered: ${response}`)
    return result
  }

  await run(smtpPort, await prepare(Math.min(100, MESSAGES)))
  const bareRuns: LoadResult[] = []
  const nodeRuns: LoadResult[] = []
  for (let pair = 0; pair < RUNS; pair++) {
    const messages = await prepare(MESSAGES)
    bareRuns.push(await run(bare.port, messages))
    nodeRuns.push(await run(smtpPort, messages))
  }
  report({
    name: 'baseline: smtp-server reading and discarding',
    unit: 'msg/s',
    runs: bareRuns.map((result) => result.rate),
  })
  report({
    name: 'node: DATA end → 250 stored (target ≥ 200)',
    unit: 'msg/s',
    runs: nodeRuns.map((result) => result.rate),
  })
  const ratios = nodeRuns.map((result, i) => result.rate / (bareRuns[i] as LoadResult).rate)
  console.log(
    `${'  the node against the baseline (median of pairs)'.padEnd(58)} ${`${Math.round(median(ratios) * 100)}`.padStart(10)} %`,
  )
  latencyFigures('  at full load', nodeRuns)
  // The machine's own tail: what a server that stores nothing answers within, under the same clients.
  report({
    name: '    beside: the baseline server, DATA end → 250, p99',
    unit: 'ms',
    runs: bareRuns.map((r) => percentile(r.latencies, 0.99)),
  })
  // What the target is about: mail arriving at 200 a second, how long each waits for its answer.
  const paced: LoadResult[] = []
  for (let i = 0; i < RUNS; i++) paced.push(await run(smtpPort, await prepare(MESSAGES), TARGET_RATE))
  latencyFigures(`  at ${TARGET_RATE} msg/s`, paced)
  report({ name: '    the rate kept up', unit: 'msg/s', runs: paced.map((result) => result.rate) })

  await stopNode(node)
  const large = await largeRuns(targets, () => prepare(PER_CONNECTION))
  report({ name: `${(LARGE_BYTES / 1e6).toFixed(1)} MB message: DATA end → 250`, unit: 'ms', runs: large.ms })
  report({
    name: '  peak RSS growth of the node (target ≤ 64 MB)',
    unit: 'MB',
    runs: large.growth.map((bytes) => bytes / 1e6),
  })
  console.log(`  outcomes stored: ${outcomes(loadConfig(env).databaseFile)}`)
  console.log(`  (machine: load average ${readFileSync('/proc/loadavg', 'utf8').split(' ', 3).join(' ')})`)
} finally {
  bare.child.kill('SIGTERM')
  await stopNode(node)
  await new Promise<void>((resolve) => sink.close(() => resolve()))
  rmSync(dataDir, { recursive: true, force: true })
}

/** What the node made of the mail, from its incoming_mails rows: a check that the runs measured intake. */
function outcomes(file: string): string {
  const sqlite = new Sqlite(file, { readonly: true })
  try {
    const rows = sqlite.prepare('select outcome, count(*) as n from incoming_mails group by outcome').all()
    return (rows as { outcome: string; n: number }[]).map((row) => `${row.outcome} ${row.n}`).join(', ')
  } finally {
    sqlite.close()
  }
}

function latencyFigures(label: string, runs: LoadResult[]): void {
  console.log(`${label}:`)
  report({ name: '    DATA end → 250, p50', unit: 'ms', runs: runs.map((r) => percentile(r.latencies, 0.5)) })
  report({
    name: '    DATA end → 250, p99 (target ≤ 50 ms)',
    unit: 'ms',
    runs: runs.map((r) => percentile(r.latencies, 0.99)),
  })
}

/**
 * The large message, RUNS times, each to a node started for it and warmed with a few small messages:
 * a heap that grew for an earlier large message keeps its pages, and would hide the next one's cost.
 * Growth is the node's peak RSS (VmHWM, reset through clear_refs) over its RSS just before the send.
 */
async function largeRuns(targets: ReplyTarget[], warmUp: () => Promise<Prepared[]>) {
  const ms: number[] = []
  const growth: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const message = await largeReply(targets[i] as ReplyTarget, LARGE_BYTES)
    const warm = await warmUp()
    node = await startNode()
    try {
      await sendLoad({ port: smtpPort, messages: warm, connections: 1, perConnection: PER_CONNECTION })
      await new Promise((resolve) => setTimeout(resolve, 500))
      const pid = node.pid as number
      writeFileSync(`/proc/${pid}/clear_refs`, '5')
      const before = statusKb(pid, 'VmRSS')
      const result = await sendLoad({ port: smtpPort, messages: [message], connections: 1, perConnection: 1 })
      for (const [response] of result.refused) throw new Error(`the large message was answered ${response}`)
      ms.push(result.latencies[0] as number)
      growth.push((statusKb(pid, 'VmHWM') - before) * 1024)
    } finally {
      await stopNode(node)
    }
  }
  return { ms, growth }
}

function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))
  if (!line) throw new Error(`no ${field} for ${pid}`)
  return Number(line[1])
}

/** One post on each seeded record emails its customer; the answers go to those emails' Reply-To. */
async function replyTargets(input: { secret: string; recordIds: number[] }): Promise<ReplyTarget[]> {
  const before = outgoing.length
  for (let start = 0; start < input.recordIds.length; start += 8)
    await Promise.all(
      input.recordIds.slice(start, start + 8).map(async (recordId) => {
        const response = await fetch(`${baseUrl}/api/v1/records/${recordId}/messages`, {
          method: 'POST',
          headers: { authorization: `Bearer ${input.secret}`, 'content-type': 'application/json' },
          body: JSON.stringify({ kind: 'message', body: 'Here is our offer for the **desks**.' }),
        })
        if (response.status !== 201) throw new Error(`the post answered ${response.status}`)
      }),
    )
  const end = performance.now() + 60_000
  while (outgoing.length < before + input.recordIds.length) {
    if (performance.now() > end) throw new Error('the node did not email every customer')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return Promise.all(
    outgoing.slice(before).map(async (raw) => {
      const mail = await simpleParser(raw)
      const customer = mail.to && !Array.isArray(mail.to) ? mail.to.value[0]?.address : undefined
      const replyTo = mail.replyTo?.value[0]?.address
      if (!customer || !replyTo || !mail.messageId)
        throw new Error('an email without To, Reply-To or Message-ID')
      return { customer, replyTo, messageId: mail.messageId, subject: mail.subject ?? '' }
    }),
  )
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
  await waitReady(`${baseUrl}/healthz`, child)
  return child
}

async function stopNode(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await exited
}

async function startBare() {
  const barePort = await freePort()
  const child = spawn(
    process.execPath,
    ['--import=tsx', fileURLToPath(new URL('./bare-smtp-server.ts', import.meta.url))],
    { env: { ...process.env, PORT: String(barePort) }, stdio: ['ignore', 'pipe', 'inherit'] },
  )
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the baseline server exited with ${code}`)))
    child.stdout?.once('data', () => resolve())
  })
  return { port: barePort, child }
}

async function waitReady(url: string, process: ChildProcess): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (process.exitCode !== null) throw new Error(`the node exited with ${process.exitCode}`)
    try {
      if ((await fetch(url)).ok) return
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`${url} never became ready`)
}

/**
 * An author with an API key; TARGETS leads, each followed by its own customer; sales@ open to
 * everyone, so a new customer's first mail makes a lead.
 */
async function seed(file: string) {
  const database = openDatabase(file)
  const db = database.db
  const now = Date.now()
  const registry = new ModelRegistry()
  ensureBaseData({ db, registry, now })
  db.update(mailAliases).set({ contactPolicy: 'everyone' }).where(eq(mailAliases.name, 'sales')).run()
  const { user: author } = await createUser({
    db,
    user: {
      login: 'author',
      password: 'unused-password',
      name: 'Alice Author',
      email: 'alice@acme.example',
      role: 'user',
      notification: 'inbox',
      timeZone: 'UTC',
    },
    now,
    passwordHash: 'scrypt$16384$8$1$c2FsdA$aGFzaA',
  })
  const secret = `ock_bench_${randomToken()}`
  db.insert(apiKeys)
    .values({
      userId: author.id,
      name: 'bench',
      prefix: 'bench',
      secretHash: sha256(secret),
      scopes: [...SCOPES],
      createdAt: now,
    })
    .run()
  const lead = registry.byName('lead')
  if (!lead) throw new Error('no lead model')
  const recordIds: number[] = []
  database.sqlite.transaction(() => {
    for (let i = 0; i < TARGETS; i++) {
      const name = `Desks for Client ${i}`
      const record = db
        .insert(records)
        .values({
          modelId: lead.id,
          name,
          values: { name, stage: 'new' },
          createdBy: author.id,
          createdAt: now,
          updatedAt: now,
        })
        .returning()
        .get()
      recordIds.push(record.id)
      const partner = db
        .insert(partners)
        .values({ name: `Customer ${i}`, email: `customer${i}@client${i % 20}.example`, createdAt: now })
        .returning()
        .get()
      db.insert(followers)
        .values({ recordId: record.id, partnerId: partner.id, subscription: 'all', createdAt: now })
        .run()
    }
  })()
  database.close()
  return { secret, recordIds }
}
