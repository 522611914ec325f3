// Retention keeps tables small. Deleting a row frees its space only once the table is vacuumed; PGlite
// never vacuums, and a PostgreSQL server may run with autovacuum off.
import { sql } from 'drizzle-orm'
import postgres from 'postgres'
import t from 'tap'
import { rows } from '../src/db/client.ts'
import { vacuumsItself } from '../src/ops/vacuum.ts'
import {
  buildNode,
  buildRelay,
  capturedLogs,
  connect,
  createTestDatabase,
  eachDriver,
  postgresTest,
  sealFor,
  signed,
  type TestRelay,
} from './helpers.ts'
import { recipientApp } from './recipient-app.ts'
import { eventually } from './webhook-node.ts'

async function queueStats(relay: TestRelay) {
  const [stats] = await rows<{ bytes: string | number; vacuums: string | number; items: string | number }>(
    relay.database.db,
    sql`select pg_total_relation_size('queue') as bytes,
               (select vacuum_count from pg_stat_user_tables where relname = 'queue') as vacuums,
               (select count(*) from queue) as items`,
  )
  return { bytes: Number(stats?.bytes), vacuums: Number(stats?.vacuums), items: Number(stats?.items) }
}

/** `count` queued items of 1.4 KB for an instance that never connects. */
async function queueItems(relay: TestRelay, count: number) {
  const now = relay.clock.now()
  await relay.database.db.execute(
    sql`insert into queue (destination, item_id, kind, body, created_at, deadline_at, next_attempt_at)
        select 'oc_gone', gen_random_uuid(), 'envelope', repeat('x', 1400), ${now}, ${now + 3_600_000}, ${now}
        from generate_series(1, ${count})`,
  )
}

eachDriver(
  t,
  'delivered envelopes leave no growing queue behind: their space is reused',
  async (t, driver) => {
    const relay = await buildRelay(t, driver, {
      listen: true,
      env: {
        RELAY_VACUUM: 'on',
        // Passes run when the test asks (runJobs), so each one is seen.
        RELAY_VACUUM_INTERVAL_MS: '3600000',
        RELAY_RATE_CONNECTION_BURST: '5000',
        RELAY_RATE_INSTANCE_BURST: '5000',
      },
    })
    const acme = recipientApp(buildNode('Acme'))
    const globex = recipientApp(buildNode('Globex'))
    const [sender, recipient] = [acme.node, globex.node]
    await connect(relay, sender, recipient)
    // Both online: Globex acknowledges each envelope, Acme each Delivered receipt coming back.
    t.teardown(() => Promise.all([acme.close(), globex.close()]))
    await acme.connect(relay)
    await globex.connect(relay)

    /** 300 messages of 1 KiB, all delivered and receipted: the queue is empty again at the end. */
    const round = async (count: number) => {
      const before = globex.stored.size
      for (let sent = 0; sent < 300; sent += 100) {
        const envelopes = Array.from({ length: 100 }, () =>
          sealFor(sender, recipient, { html: `<p>${'x'.repeat(1000)}</p>` }),
        )
        t.equal((await signed(relay, sender, 'POST', '/v1/envelopes', { envelopes })).statusCode, 200)
      }
      await eventually(
        async () => globex.stored.size === before + 300 && (await queueStats(relay)).items === 0,
        15_000,
      )
      t.equal(globex.stored.size, count * 300, `round ${count}: every message arrived`)
      return (await queueStats(relay)).bytes
    }
    /** Runs the relay's jobs until one of them has vacuumed the queue (a server reports within seconds). */
    const vacuumed = async () => {
      const before = (await queueStats(relay)).vacuums
      await eventually(async () => {
        await relay.runJobs()
        return (await queueStats(relay)).vacuums > before
      }, 20_000)
    }

    const first = await round(1)
    await vacuumed()
    const second = await round(2)
    await vacuumed()
    const third = await round(3)
    t.match(
      await relay.metrics.registry.metrics(),
      /ochat_relay_table_vacuums_total\{table="queue"\} [1-9]/,
      'operators see the passes in /metrics',
    )
    t.ok(first > 300 * 1000, `the queue held the first round's ciphertext (${first} bytes)`)
    t.ok(
      second <= first * 1.2 && third <= first * 1.2,
      `later rounds reuse its space: ${first}, then ${second} and ${third} bytes`,
    )
  },
)

eachDriver(
  t,
  'in auto mode the relay vacuums PGlite, and warns when a server vacuums nothing',
  async (t, driver) => {
    const logs = capturedLogs()
    const relay = await buildRelay(t, driver, { logStream: logs.stream, env: { RELAY_LOG_LEVEL: 'info' } })
    const [setting] = await rows<{ autovacuum: string }>(
      relay.database.db,
      sql`select current_setting('autovacuum') as autovacuum`,
    )
    const auto = await vacuumsItself(relay.database, 'auto')
    if (driver === 'pglite') {
      t.equal(auto.vacuums, true, 'PGlite has no autovacuum worker: the relay vacuums')
      t.match(logs.text(), /the relay vacuums its own tables/)
    } else {
      t.equal(auto.vacuums, false, 'a server is left to its autovacuum')
      t.equal(
        auto.serverAutovacuum,
        setting?.autovacuum === 'on',
        `whose setting is read: ${setting?.autovacuum}`,
      )
      if (setting?.autovacuum === 'off')
        t.match(
          logs.text(),
          /"level":40.*autovacuum is off and nothing vacuums.*RELAY_VACUUM=on/,
          'an operator whose server vacuums nothing is told, with the setting to change',
        )
    }
    t.equal((await vacuumsItself(relay.database, 'off')).vacuums, false, 'off: never')
    t.equal((await vacuumsItself(relay.database, 'on')).vacuums, true, 'on: always')
  },
)

postgresTest(t, 'a relay shut down during a vacuum pass cancels it, and logs no failure', async (t) => {
  const logs = capturedLogs()
  const { database, url } = await createTestDatabase(t, 'postgres')
  const relay = await buildRelay(t, 'postgres', {
    database,
    logStream: logs.stream,
    env: { RELAY_LOG_LEVEL: 'info', RELAY_VACUUM: 'on', RELAY_VACUUM_INTERVAL_MS: '3600000' },
  })
  const watcher = postgres(url ?? '', { max: 1, onnotice: () => {} })
  t.teardown(() => watcher.end())
  // 30,000 delivered items of 1.4 KB: a VACUUM paced as autovacuum is, over their 100 MB, takes seconds.
  await queueItems(relay, 30_000)
  await relay.database.db.execute(sql`delete from queue`)
  const queueVacuums = async () =>
    (await watcher`select n_dead_tup, vacuum_count from pg_stat_user_tables where relname = 'queue'`)[0] as {
      n_dead_tup: string
      vacuum_count: string
    }
  await eventually(async () => Number((await queueVacuums()).n_dead_tup) >= 30_000, 20_000)

  const pass = relay.runJobs()
  const vacuuming = () =>
    watcher`select pid from pg_stat_activity where query ilike 'vacuum%queue%' and state = 'active'`
  await eventually(async () => (await vacuuming()).length > 0, 10_000)
  await relay.close()
  await pass
  t.equal((await vacuuming()).length, 0, 'the VACUUM is no longer running on the server')
  t.equal(Number((await queueVacuums()).vacuum_count), 0, 'it was cancelled, not finished')
  t.notMatch(logs.text(), /background work failed|"level":50/, 'no error in the logs')
  t.match(logs.text(), /the relay vacuums its own tables/, 'the log said at start who vacuums')
})

eachDriver(t, 'VACUUM never cuts the queue short: that lock would stop every delivery', async (t, driver) => {
  const relay = await buildRelay(t, driver)
  await queueItems(relay, 1000)
  const size = async () =>
    Number(
      (
        await rows<{ bytes: string | number }>(
          relay.database.db,
          sql`select pg_relation_size('queue') as bytes`,
        )
      )[0]?.bytes,
    )
  const full = await size()
  await relay.database.db.execute(sql`delete from queue`)
  await relay.database.maintenance.execute(sql`vacuum queue`)
  t.ok(full > 1_000_000, `the queue took ${full} bytes`)
  t.equal(await size(), full, 'emptied and vacuumed, its pages stay for reuse: no exclusive lock was taken')
})
