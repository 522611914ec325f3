// Mail figures for `pnpm bench mail`. The node runs as its own process on a fresh SQLite file, sending
// to an SMTP server in this process that accepts everything (as a local relay would). Baseline, in the
// same run: nodemailer sending the same number of emails of the same size straight to that server over
// as many pooled connections as the node uses, with nothing to read or record. Medians of several runs.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import nodemailer from 'nodemailer'
import { SMTPServer } from 'smtp-server'
import { report } from '../../shared-protocol/bench/measure.ts'
import { SCOPES } from '../src/auth/scopes.ts'
import { randomToken, sha256 } from '../src/auth/tokens.ts'
import { loadConfig } from '../src/config.ts'
import { openDatabase } from '../src/db/client.ts'
import { apiKeys, followers, partners, records } from '../src/db/schema.ts'
import { ModelRegistry } from '../src/models/registry.ts'
import { ensureBaseData } from '../src/models/seed.ts'
import { createUser } from '../src/people/create-user.ts'
import { freePort } from './ports.ts'

const RUNS = 3
/** Customers following each record: one post emails them all. */
const RECIPIENTS = Number(process.env.BENCH_MAIL_RECIPIENTS ?? 1000)
/** The node's pool (mail/sender.ts) sends over at most three connections; the baseline uses as many. */
const CONNECTIONS = 3

const received: { at: number; to: string }[] = []
const sink = new SMTPServer({
  authOptional: true,
  disabledCommands: ['AUTH', 'STARTTLS'],
  logger: false,
  onData(stream, session, callback) {
    stream.on('data', () => {})
    stream.on('end', () => {
      for (const rcpt of session.envelope.rcptTo) received.push({ at: performance.now(), to: rcpt.address })
      callback()
    })
  },
})
const sinkPort = await freePort()
await new Promise<void>((resolve) => sink.listen(sinkPort, '127.0.0.1', resolve))

const dataDir = mkdtempSync(join(tmpdir(), 'ochat-mail-bench-'))
const port = await freePort()
const env = {
  NODE_DATA_DIR: dataDir,
  NODE_PORT: String(port),
  NODE_LOG_LEVEL: 'warn',
  NODE_SMTP_URL: `smtp://127.0.0.1:${sinkPort}?security=none`,
  NODE_MAIL_FROM: 'notifications@acme.example',
  NODE_MAIL_DOMAIN: 'acme.example',
}
const seeded = await seed(loadConfig(env).databaseFile)
const child = spawn(
  process.execPath,
  [fileURLToPath(new URL('../bin/ochat-node.mjs', import.meta.url)), 'serve'],
  {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  },
)
const baseUrl = `http://127.0.0.1:${port}`
try {
  await waitReady(`${baseUrl}/healthz`, child)
  console.log(
    `mail: node in its own process, SQLite (WAL); an SMTP server in the bench process; ${RECIPIENTS.toLocaleString('en-US')} recipients a run, median of ${RUNS}`,
  )
  const body = JSON.stringify({
    kind: 'message',
    body: 'Hello, the **order** ships on Friday: the delivery note and the invoice follow by email.',
  })
  const node: number[] = []
  for (const recordId of seeded.recordIds) {
    const before = received.length
    const started = performance.now()
    const response = await fetch(`${baseUrl}/api/v1/records/${recordId}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${seeded.secret}`, 'content-type': 'application/json' },
      body,
    })
    if (response.status !== 201) throw new Error(`the post answered ${response.status}`)
    const last = await allReceived(before + RECIPIENTS)
    node.push(RECIPIENTS / ((last - started) / 1000))
  }
  const sent = report({
    name: 'post → every customer follower emailed (SMTP 250)',
    unit: 'mail/s',
    runs: node,
  })

  // The same number of emails, about the size the node writes, straight from nodemailer.
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port: sinkPort,
    secure: false,
    ignoreTLS: true,
    pool: true,
    maxConnections: CONNECTIONS,
    maxMessages: Number.POSITIVE_INFINITY,
  })
  const html = `<p><strong>Alice</strong> on Lead Record:</p><p>${'Hello, the order ships on Friday. '.repeat(4)}</p>`
  const bare: number[] = []
  for (let run = 0; run < RUNS; run++) {
    const before = received.length
    const started = performance.now()
    await Promise.all(
      Array.from({ length: RECIPIENTS }, (_, i) =>
        transport.sendMail({
          from: 'notifications@acme.example',
          to: `bare${i}@client.example`,
          subject: 'Re: Record · Acme',
          html,
          text: html.replace(/<[^>]+>/g, ''),
        }),
      ),
    )
    const last = await allReceived(before + RECIPIENTS)
    bare.push(RECIPIENTS / ((last - started) / 1000))
  }
  transport.close()
  const baseline = report({ name: 'baseline: nodemailer straight to the server', unit: 'mail/s', runs: bare })
  console.log(
    `${'  the node against the baseline'.padEnd(58)} ${`${Math.round((sent.median / baseline.median) * 100)}`.padStart(10)} %      (target: 300 mail/s or more)`,
  )
} finally {
  child.kill('SIGTERM')
  await new Promise((resolve) => child.once('exit', resolve))
  await new Promise<void>((resolve) => sink.close(() => resolve()))
  rmSync(dataDir, { recursive: true, force: true })
}

/** Resolves with the time the `count`th email arrived; 60 s at most. */
async function allReceived(count: number): Promise<number> {
  const end = performance.now() + 60_000
  while (received.length < count) {
    if (performance.now() > end) throw new Error(`only ${received.length} of ${count} emails arrived`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  return (received[count - 1] as { at: number }).at
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

/** An author with an API key, and one record per run, each followed by RECIPIENTS customers. */
async function seed(file: string) {
  const database = openDatabase(file)
  const db = database.db
  const now = Date.now()
  const registry = new ModelRegistry()
  ensureBaseData({ db, registry, now })
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
    for (let run = 0; run < RUNS; run++) {
      const name = `Record ${run}`
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
      for (let i = 0; i < RECIPIENTS; i++) {
        const partner = db
          .insert(partners)
          .values({ name: `Customer ${run}.${i}`, email: `c${run}.${i}@client.example`, createdAt: now })
          .returning()
          .get()
        db.insert(followers)
          .values({ recordId: record.id, partnerId: partner.id, subscription: 'all', createdAt: now })
          .run()
      }
    }
  })()
  database.close()
  return { secret, recordIds }
}
