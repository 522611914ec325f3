// Replicas and faults: several relay processes over one PostgreSQL; crashes, restarts and a
// dropped database connection lose nothing and hand nothing twice to the recipient's application.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Envelope } from '@ochat/shared-protocol'
import { systemClock } from '@ochat/shared-protocol/server'
import { sql } from 'drizzle-orm'
import postgres from 'postgres'
import t, { type Test } from 'tap'
import { openPglite, openPostgres, rows } from '../src/db/client.ts'
import {
  buildNode,
  buildRelay,
  connect,
  createTestDatabase,
  sealFor,
  signed,
  type TestNode,
  type TestRelay,
} from './helpers.ts'
import { recipientApp } from './recipient-app.ts'
import { eventually } from './webhook-node.ts'
import { openSocket } from './ws-client.ts'

const bin = fileURLToPath(new URL('../bin/ochat-relay.mjs', import.meta.url))

function sharedDir(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'ochat-replicas-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Replicas share the relay keys file and the blob volume, and nothing else but the database. */
const replicaEnv = (dir: string, replica: string) => ({
  RELAY_KEYS_FILE: join(dir, 'relay-keys.json'),
  RELAY_BLOB_DIR: join(dir, 'blobs'),
  RELAY_REPLICA_ID: replica,
})

async function submitAll(relay: TestRelay, from: TestNode, envelopes: Envelope[]) {
  for (let start = 0; start < envelopes.length; start += 25) {
    const response = await signed(relay, from, 'POST', '/v1/envelopes', {
      envelopes: envelopes.slice(start, start + 25),
    })
    if (!response.json().results.every((result: { ok: boolean }) => result.ok)) throw new Error(response.body)
  }
}

/** Replicas `a` and `b` in this process, over one throwaway PostgreSQL database. */
async function twoReplicas(t: Test, env: Record<string, string> = {}) {
  const dir = sharedDir(t)
  const { database, url } = await createTestDatabase(t, 'postgres')
  const a = await buildRelay(t, 'postgres', {
    listen: true,
    database,
    clock: systemClock,
    env: { ...env, ...replicaEnv(dir, 'a') },
  })
  const b = await buildRelay(t, 'postgres', {
    listen: true,
    database: await openPostgres(url ?? ''),
    clock: systemClock,
    env: { ...env, ...replicaEnv(dir, 'b') },
  })
  return { a, b, database }
}

t.test('two replicas: the sender on one, the recipient’s socket on the other', async (t) => {
  const { a, b } = await twoReplicas(t, { RELAY_RATE_CONNECTION_BURST: '1000' })
  t.equal(a.relayKeys.relayId, b.relayKeys.relayId, 'one relay identity')
  const acme = buildNode('Acme')
  const globex = buildNode('Globex')
  await connect(a, acme, globex)
  const app = recipientApp(globex)
  await app.connect(b)
  t.teardown(() => app.close())
  const sender = await openSocket(a, acme)
  t.teardown(() => sender.close())

  const envelopes = Array.from({ length: 40 }, () => sealFor(acme, globex))
  await submitAll(a, acme, envelopes)
  await eventually(() => app.stored.size === 40)
  const receipts = await sender.next('deliver', (frame) =>
    frame.items.some((item) => item.type === 'receipt'),
  )
  t.ok(receipts.items.length > 0, 'receipts come back to the sender on replica a')
  await eventually(async () => {
    const statuses = await Promise.all(
      envelopes.map(
        async (envelope) =>
          (await signed(a, acme, 'GET', `/v1/envelopes/${envelope.header.id}`)).json().envelope.status,
      ),
    )
    return statuses.every((status) => status === 'delivered')
  })
  t.equal(app.stored.size, 40, 'each envelope stored once')
})

t.test('kill -9 of one of two replicas mid-load: the other takes over within seconds', async (t) => {
  const dir = sharedDir(t)
  const { database, url } = await createTestDatabase(t, 'postgres')
  const a = await buildRelay(t, 'postgres', {
    listen: true,
    database,
    clock: systemClock,
    env: { RELAY_RATE_CONNECTION_BURST: '1000', ...replicaEnv(dir, 'a') },
  })
  const child: ChildProcess = spawn(process.execPath, [bin, 'serve'], {
    env: {
      ...process.env,
      ...replicaEnv(dir, 'c'),
      DATABASE_URL: url,
      RELAY_PORT: '0',
      RELAY_PORT_FILE: '',
      RELAY_REGISTRATION: 'open',
      RELAY_LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  t.teardown(() => child.kill('SIGKILL'))
  const port = await new Promise<number>((resolve, reject) => {
    let seen = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      seen += String(chunk)
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(seen)
      if (match) resolve(Number(match[1]))
    })
    child.once('exit', () => reject(new Error(`replica c exited early: ${seen}`)))
  })
  const c = { baseUrl: `http://127.0.0.1:${port}`, clock: systemClock }

  const acme = buildNode('Acme')
  const globex = buildNode('Globex')
  await connect(a, acme, globex)
  const app = recipientApp(globex)
  await app.connect(c)
  const envelopes = Array.from({ length: 300 }, () => sealFor(acme, globex))
  const submitting = submitAll(a, acme, envelopes)
  await eventually(() => app.stored.size >= 25, 10_000)
  child.kill('SIGKILL')
  await app.close()
  await app.connect(a)
  t.teardown(() => app.close())
  await submitting
  const started = Date.now()
  await eventually(() => app.stored.size === 300, 20_000)
  t.ok(Date.now() - started < 15_000, `the rest arrived within ${Date.now() - started} ms of the takeover`)
  t.equal(app.stored.size, 300, 'nothing lost')
  t.ok(
    app.offered >= 300,
    `offered ${app.offered} times; duplicates are dropped by the node, never stored twice`,
  )
})

t.test('a relay restart mid-delivery loses nothing', async (t) => {
  for (const driver of ['postgres', 'pglite'] as const) {
    await t.test(driver, async (t) => {
      const dir = sharedDir(t)
      const { url } = driver === 'postgres' ? await createTestDatabase(t, 'postgres') : { url: undefined }
      const open = () => (driver === 'postgres' ? openPostgres(url ?? '') : openPglite(join(dir, 'pglite')))
      const env = { RELAY_RATE_CONNECTION_BURST: '1000', ...replicaEnv(dir, 'a') }
      const first = await buildRelay(t, driver, {
        listen: true,
        database: await open(),
        clock: systemClock,
        env,
      })
      const acme = buildNode('Acme')
      const globex = buildNode('Globex')
      await connect(first, acme, globex)
      const envelopes = Array.from({ length: 60 }, () => sealFor(acme, globex))
      await submitAll(first, acme, envelopes)
      // The recipient takes the first window but never acknowledges it: the relay stops mid-delivery.
      const silent = await openSocket(first, globex)
      await silent.next('deliver')
      await first.close()
      await silent.closed()

      const second = await buildRelay(t, driver, {
        listen: true,
        database: await open(),
        clock: systemClock,
        env,
      })
      const app = recipientApp(globex)
      await app.connect(second)
      t.teardown(() => app.close())
      await eventually(() => app.stored.size === 60, 10_000)
      t.equal(app.stored.size, 60)
    })
  }
})

t.test(
  'a dropped database connection: 503 while it is down, never 500; then everything works again',
  async (t) => {
    const { database, url } = await createTestDatabase(t, 'postgres')
    const relay = await buildRelay(t, 'postgres', { listen: true, database, clock: systemClock })
    const acme = buildNode('Acme')
    const globex = buildNode('Globex')
    await connect(relay, acme, globex)
    const app = recipientApp(globex)
    await app.connect(relay)
    t.teardown(() => app.close())

    const admin = postgres(process.env.OCHAT_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/postgres', {
      max: 1,
      onnotice: () => {},
    })
    const name = new URL(url ?? '').pathname.slice(1)
    await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${name} and pid <> pg_backend_pid()`
    await admin.end()

    const statuses: number[] = []
    for (let attempt = 0; attempt < 10; attempt++) {
      const response = await signed(relay, acme, 'POST', '/v1/envelopes', {
        envelopes: [sealFor(acme, globex)],
      })
      statuses.push(response.statusCode)
      if (response.statusCode === 200) break
      t.equal(response.json().error.code, 'E_UNAVAILABLE')
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    t.notOk(statuses.includes(500), `statuses while reconnecting: ${statuses.join(', ')}`)
    t.equal(statuses.at(-1), 200, 'accepted again once reconnected')
    await eventually(() => app.stored.size === 1, 12_000)
    t.pass('delivered after the reconnect (NOTIFY listener or poll backstop)')
  },
)

t.test('a lease notice that arrives after a newer connect does not close the newer socket', async (t) => {
  const { a, b, database } = await twoReplicas(t)
  const acme = buildNode('Acme')
  const globex = buildNode('Globex')
  await connect(a, acme, globex)
  const generation = async () => {
    const [row] = await rows<{ generation: string }>(
      database.db,
      sql`select generation::text from leases where instance_id = ${globex.instanceId}`,
    )
    return row?.generation ?? ''
  }
  const first = await openSocket(a, globex)
  const firstLease = await generation()
  const second = await openSocket(b, globex)
  t.teardown(() => second.close())
  t.equal((await first.closed()).code, 4409, 'the newer connect on replica b closes the socket on a')

  // Two connects close together: replica b hears of a's (older) lease only after its own.
  await database.db.execute(sql`select pg_notify('ochat_lease', ${`${globex.instanceId}|a|${firstLease}`})`)
  await submitAll(a, acme, [sealFor(acme, globex)])
  const delivered = await second.next('deliver')
  t.equal(delivered.items.length, 1, 'the socket on b stays open and is delivered to')
  t.ok(Number(await generation()) > Number(firstLease), 'every takeover has a newer lease generation')
})
