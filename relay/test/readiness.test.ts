// PROTOCOL.md §1 (public routes): /readyz tells a balancer whether to send this replica traffic.
import { ManualClock } from '@ochat/shared-protocol/server'
import { sql } from 'drizzle-orm'
import t from 'tap'
import { rows } from '../src/db/client.ts'
import {
  buildNode,
  buildRelay,
  connect,
  eachDriver,
  register,
  sealFor,
  signed,
  type TestRelay,
} from './helpers.ts'
import { eventually, startWebhookNode } from './webhook-node.ts'
import { openSocket } from './ws-client.ts'

async function readyz(relay: TestRelay) {
  const response = await relay.app.inject({ method: 'GET', url: '/readyz' })
  return { status: response.statusCode, body: response.json() }
}

eachDriver(
  t,
  'ready when migrated, the database answers and the lease heartbeat beats',
  async (t, driver) => {
    const relay = await buildRelay(t, driver)
    t.same(await readyz(relay), { status: 200, body: { ok: true } })
    t.same((await relay.app.inject({ method: 'GET', url: '/healthz' })).json(), { ok: true }, 'and alive')
  },
)

eachDriver(t, 'not ready while the database lacks migrations', async (t, driver) => {
  const relay = await buildRelay(t, driver)
  const db = relay.database.db
  // The database as a fresh one shows it: no migration recorded at all. Renamed back afterwards, as
  // the in-memory databases are reused by the next test.
  await db.execute(sql`alter schema drizzle rename to drizzle_hidden`)
  const fresh = await readyz(relay)
  await db.execute(sql`alter schema drizzle_hidden rename to drizzle`)
  t.same(fresh, {
    status: 503,
    body: { ok: false, reason: 'error: the database is missing migrations: run `ochat-relay migrate`' },
  })
  t.equal((await readyz(relay)).status, 200, 'ready again once they are there')

  // One migration missing: the newest.
  const [newest] = await rows<{ id: number; hash: string; created_at: string }>(
    db,
    sql`select id, hash, created_at from drizzle.__drizzle_migrations order by created_at desc limit 1`,
  )
  if (!newest) throw new Error('no migration recorded')
  await db.execute(sql`delete from drizzle.__drizzle_migrations where id = ${newest.id}`)
  const lacking = await readyz(relay)
  await db.execute(
    sql`insert into drizzle.__drizzle_migrations (id, hash, created_at)
        values (${newest.id}, ${newest.hash}, ${newest.created_at})`,
  )
  t.match(lacking, { status: 503, body: { ok: false, reason: /missing migrations/ } })
  t.equal((await readyz(relay)).status, 200)
})

eachDriver(t, 'not ready when the lease heartbeat stopped or fell behind', async (t, driver) => {
  const clock = new ManualClock()
  const relay = await buildRelay(t, driver, { clock, env: { RELAY_LEASE_TTL_MS: '30000' } })
  clock.advance(30_001)
  t.same(await readyz(relay), {
    status: 503,
    body: { ok: false, reason: 'error: the socket lease heartbeat is late' },
  })
  await relay.leaseLoop.beat()
  t.equal((await readyz(relay)).status, 200, 'a renewal that commits makes it ready again')
  relay.leaseLoop.stop()
  t.same(await readyz(relay), {
    status: 503,
    body: { ok: false, reason: 'error: the socket lease heartbeat is stopped' },
  })
})

eachDriver(
  t,
  'shutting down: not ready at once, sockets closed with 1012, in-flight webhooks finish',
  async (t, driver) => {
    const relay = await buildRelay(t, driver, { listen: true })
    const acme = buildNode('Acme')
    const globex = buildNode('Globex')
    await connect(relay, acme, globex)
    const hook = await startWebhookNode(relay, globex)
    t.teardown(() => hook.close())
    await register(relay, globex, { webhookUrl: hook.url })
    const socket = await openSocket(relay, acme)
    // The webhook call takes a second: shutdown waits for it.
    hook.answer({ status: 200, delayMs: 1000 })
    const envelope = sealFor(acme, globex)
    const submitted = await signed(relay, acme, 'POST', '/v1/envelopes', { envelopes: [envelope] })
    t.equal(submitted.statusCode, 200)
    await eventually(() => hook.received.length > 0)

    const started = Date.now()
    const closing = relay.close()
    t.same(await readyz(relay), {
      status: 503,
      body: { ok: false, reason: 'error: the relay is shutting down' },
    })
    t.match(await socket.closed(), { code: 1012 }, 'the node is told to reconnect at once')
    await closing
    t.ok(Date.now() - started >= 900, 'the webhook call under way was waited for')
    t.equal(hook.received.length, 1)
  },
)
