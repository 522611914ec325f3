// How the relay talks to PostgreSQL (relay/docs/design.md, "Talking to PostgreSQL"): it must come back
// by itself after PostgreSQL was unreachable, long lists must work on the unprepared path too, and the
// hot statements must stay on their indexes and keep their writes small.
import { connect as connectTcp, createServer, type Server, type Socket } from 'node:net'
import { newId } from '@ochat/shared-protocol'
import { sql } from 'drizzle-orm'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import t, { type Test } from 'tap'
import { migrateDatabase, openPostgres, rows } from '../src/db/client.ts'
import { claimDue } from '../src/delivery/queue-repository.ts'
import { findEnvelopes } from '../src/envelopes/repository.ts'
import {
  buildNode,
  buildRelay,
  connect,
  createTestDatabase,
  eachDriver,
  postgresTest,
  sealFor,
  signed,
} from './helpers.ts'

/**
 * A TCP proxy to PostgreSQL that can stop accepting (connections refused) and start again, on the port
 * the kernel gave its first start.
 */
function proxy() {
  let port = 0
  let server: Server | undefined
  const open = new Set<Socket>()
  return {
    async start() {
      server = createServer((client) => {
        const target = connectTcp({ host: '127.0.0.1', port: 5432 })
        open.add(client).add(target)
        client.pipe(target).pipe(client)
        const drop = () => {
          client.destroy()
          target.destroy()
        }
        client.on('error', drop).on('close', drop)
        target.on('error', drop).on('close', drop)
      })
      await new Promise<void>((resolve) => server?.listen(port, '127.0.0.1', resolve))
      const address = server.address()
      if (address && typeof address === 'object') port = address.port
    },
    get port() {
      return port
    },
    async stop() {
      for (const socket of open) socket.destroy()
      open.clear()
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
    },
  }
}

/** A session whose every statement PostgreSQL's auto_explain reports; `plans` collects the reports. */
async function explainingSession(t: Test, url: string, settings: string[]) {
  const plans: string[] = []
  const session = postgres(url, {
    max: 1,
    onnotice: (notice) => {
      if (String(notice.message).includes('Query Text')) plans.push(String(notice.message))
    },
  })
  t.teardown(() => session.end())
  await session.unsafe("load 'auto_explain'")
  await session.unsafe('set auto_explain.log_min_duration = 0')
  for (const setting of settings) await session.unsafe(`set ${setting}`)
  await session.unsafe('set client_min_messages = log')
  return { session, plans }
}

postgresTest(
  t,
  'after PostgreSQL refused connections for a while, the relay reconnects by itself',
  async (t) => {
    const { database: direct, url } = await createTestDatabase(t, 'postgres')
    await direct.close()
    const gate = proxy()
    await gate.start()
    const target = new URL(url ?? '')
    target.host = `127.0.0.1:${gate.port}`
    const database = await openPostgres(target.toString())
    t.teardown(() => database.close())
    await database.ping()

    await gate.stop()
    // More failed attempts than either pool has connections (10 and 3): none may leave a slot stuck.
    const outcomes = await Promise.allSettled([
      ...Array.from({ length: 12 }, () => database.ping()),
      ...Array.from({ length: 5 }, () => database.relaxed.execute(sql`select 1`)),
    ])
    t.ok(
      outcomes.every((outcome) => outcome.status === 'rejected'),
      'every query fails while PostgreSQL is unreachable',
    )

    await gate.start()
    t.teardown(() => gate.stop())
    const deadline = Date.now() + 10_000
    let back = false
    while (!back && Date.now() < deadline) {
      back = await database.ping().then(
        () => true,
        () => false,
      )
      if (!back) await new Promise((resolve) => setTimeout(resolve, 200))
    }
    t.ok(back, 'queries succeed again once PostgreSQL is reachable')
    const [one] = await rows<{ one: number }>(database.relaxed, sql`select 1 as one`)
    t.equal(one?.one, 1, 'the claims pool reconnects too')
  },
)

postgresTest(t, 'lists longer than the prepared-statement limit are still looked up correctly', async (t) => {
  // An empty database: the migrations run here from nothing, on PostgreSQL, whatever the template has.
  const { database } = await createTestDatabase(t, 'postgres', { empty: true })
  t.teardown(() => database.close())
  await migrateDatabase(database)
  const ids = Array.from({ length: 40 }, () => newId())
  const found = await findEnvelopes(database.db, ids)
  t.same(found, [], 'no envelope has these ids')
  // A statement with one parameter per value (more than 16) goes unprepared, and works the same.
  const values = ids.map((id) => sql`${id}`)
  const [count] = await rows<{ n: string | number }>(
    database.db,
    sql`select count(*) as n from (values ${sql.join(
      values.map((value) => sql`(${value})`),
      sql`, `,
    )}) as v(id)`,
  )
  t.equal(Number(count?.n), 40)
})

postgresTest(
  t,
  'the submit and receipt statements stay on their indexes with the plan kept for the session',
  async (t) => {
    // Both are planned once per session (drizzle/0005_generic_plans.sql). A plan made while the tables
    // were empty must not scan them whole later: here it is made right after VACUUM ANALYZE saw them
    // empty, the worst case, and PostgreSQL's own auto_explain shows what each call ran.
    const { database, url } = await createTestDatabase(t, 'postgres')
    const relay = await buildRelay(t, 'postgres', { database })
    const acme = buildNode('Acme')
    const globex = buildNode('Globex')
    await connect(relay, acme, globex)
    const { session, plans } = await explainingSession(t, url ?? '', [
      'auto_explain.log_nested_statements = on',
    ])
    await session.unsafe('vacuum analyze envelopes, queue, connections')

    const envelopes = [sealFor(acme, globex), sealFor(acme, globex)]
    const now = relay.clock.now()
    const batch = envelopes.map((envelope, i) => ({
      i,
      id: envelope.header.id,
      sender: acme.instanceId,
      to: globex.instanceId,
      size: 100,
      blobs: null,
    }))
    const stored = await session.unsafe(
      `select * from ochat_submit_envelopes($1::text::json, $2::text, '[]'::json, '[]'::json, 'r1', $3::bigint,
       $3::bigint, $4::bigint)`,
      [
        JSON.stringify(batch),
        envelopes.map((envelope) => JSON.stringify(envelope)).join('\n'),
        now,
        now + 60_000,
      ],
    )
    t.same(
      stored.map((row) => [row.outcome, Number(row.seq)]),
      [
        ['stored', 1],
        ['stored', 2],
      ],
      'the batch is stored and numbered',
    )
    const receipts = [
      {
        r: 0,
        id: newId(),
        kind: 'delivered',
        recipient: globex.instanceId,
        sender: acme.instanceId,
        envelope_ids: envelopes.map((envelope) => envelope.header.id),
        body: '{}',
        direct: false,
      },
    ]
    const settled = await session.unsafe(
      `select * from ochat_accept_receipts($1::text::json, '[]'::json, 'r1', $2::bigint, $2::bigint, $3::bigint)`,
      [JSON.stringify(receipts), now, 60_000],
    )
    t.equal(
      settled.filter((row) => row.o_what === 'delivered').length,
      2,
      'both envelopes are marked delivered',
    )
    const [queue] = await session`select count(*)::int as n from queue where kind = 'envelope'`
    t.equal(queue?.n, 0, 'their ciphertext is gone')

    const inner = plans.filter((plan) => /Query Text: with (entry|rc) as/.test(plan))
    t.equal(inner.length, 2, 'auto_explain showed the statement inside each function')
    for (const plan of inner) {
      t.notMatch(plan, /Seq Scan on (envelopes|queue|connections|blob_grants)\b/, 'no table is read whole')
      t.match(plan, /Index (Only )?Scan|Bitmap Index Scan/, 'the tables are read through an index')
    }
  },
)

eachDriver(
  t,
  'claiming a queued envelope updates its row in place: no index entry, no copy of the body in the log',
  async (t, driver) => {
    // drizzle/0007_queue_fillfactor.sql: queue pages keep room for the new versions of their rows, so
    // a claim is a HOT update. On full pages each claim logged the whole row and touched five indexes.
    const relay = await buildRelay(t, driver, {
      env: { RELAY_RATE_CONNECTION_BURST: '1000', RELAY_RATE_INSTANCE_BURST: '1000' },
    })
    const acme = buildNode('Acme')
    const globex = buildNode('Globex')
    await connect(relay, acme, globex)
    // Globex is offline: 1 KiB messages wait in the queue, unclaimed.
    const envelopes = Array.from({ length: 40 }, () =>
      sealFor(acme, globex, { html: `<p>${'x'.repeat(1000)}</p>` }),
    )
    t.equal((await signed(relay, acme, 'POST', '/v1/envelopes', { envelopes })).statusCode, 200)

    const counts = await relay.database.db.transaction(async (tx) => {
      // This transaction's own counts, before they reach the statistics views. PGlite's single
      // session keeps them across transactions, so what an earlier test left there is subtracted.
      const tuples = () =>
        rows<{ updated: string | number; hot: string | number }>(
          tx,
          sql`select pg_stat_get_xact_tuples_updated('queue'::regclass) as updated,
                pg_stat_get_xact_tuples_hot_updated('queue'::regclass) as hot`,
        ).then(([found]) => ({ updated: Number(found?.updated), hot: Number(found?.hot) }))
      const before = await tuples()
      const claimed = await claimDue(tx, {
        rooms: [{ destination: globex.instanceId, room: 256 }],
        replicaId: 'r1',
        nowMs: relay.clock.now(),
        visibilityMs: 60_000,
      })
      const after = await tuples()
      return {
        claimed: claimed.get(globex.instanceId)?.length,
        updated: after.updated - before.updated,
        hot: after.hot - before.hot,
      }
    })
    t.equal(counts.claimed, 40, 'every queued envelope is claimed')
    t.equal(counts.updated, 40, 'each claim updated its row once')
    t.equal(counts.hot, 40, 'every claim was a HOT update')
  },
)

postgresTest(
  t,
  'a claim reads the destination’s own items after ANALYZE saw one destination hold the queue',
  async (t) => {
    // An offline instance's backlog sits ahead of a live one's items. Analysed, such a queue has two or
    // three destinations, and a claim planned from that (drizzle/0008_queue_destination_ndistinct.sql)
    // walked every row of the backlog to find the live instance's oldest items.
    const { database, url } = await createTestDatabase(t, 'postgres')
    const relay = await buildRelay(t, 'postgres', { database })
    const now = relay.clock.now()
    const queueItems = (destination: string, count: number) =>
      relay.database.db.execute(
        sql`insert into queue (destination, item_id, kind, body, created_at, deadline_at, next_attempt_at)
          select ${destination}, gen_random_uuid(), 'envelope', repeat('x', 1400), ${now}, ${now + 3_600_000}, ${now}
          from generate_series(1, ${count})`,
      )
    await queueItems('oc_offline', 20_000)
    await queueItems('oc_online', 300)
    const { session, plans } = await explainingSession(t, url ?? '', ['auto_explain.log_analyze = on'])
    await session.unsafe('analyze queue')

    const claimed = await claimDue(drizzlePostgres(session) as never, {
      rooms: [{ destination: 'oc_online', room: 256 }],
      replicaId: 'r1',
      nowMs: now,
      visibilityMs: 60_000,
    })
    t.equal(claimed.get('oc_online')?.length, 256, 'the live instance gets its 256 oldest items')
    const [plan = ''] = plans.filter((text) => text.includes('update queue q set claimed_by'))
    t.match(plan, /Index Scan using queue_destination_qid on queue/, 'through the (destination, qid) index')
    const filtered = [...plan.matchAll(/Rows Removed by Filter: (\d+)/g)].map((match) => Number(match[1]))
    t.ok(
      filtered.every((count) => count < 1000),
      `without reading the backlog (rows filtered out: ${filtered.join(', ') || 'none'})`,
    )
  },
)
