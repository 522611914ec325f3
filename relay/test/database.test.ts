// How the relay talks to PostgreSQL (relay/ARCHITECTURE.md, "Talking to PostgreSQL"): it must come back
// by itself after PostgreSQL was unreachable, and long lists must work on the unprepared path too.
import { connect, createServer, type Server, type Socket } from 'node:net'
import { newId } from '@ochat/shared-protocol'
import { sql } from 'drizzle-orm'
import t from 'tap'
import { migrateDatabase, openPostgres, rows } from '../src/db/client.ts'
import { findEnvelopes } from '../src/envelopes/repository.ts'
import { createTestDatabase } from './helpers.ts'

/** A TCP proxy to PostgreSQL that can stop accepting (connections refused) and start again. */
function proxy(port: number) {
  let server: Server | undefined
  const open = new Set<Socket>()
  return {
    async start() {
      server = createServer((client) => {
        const target = connect({ host: '127.0.0.1', port: 5432 })
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
    },
    async stop() {
      for (const socket of open) socket.destroy()
      open.clear()
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
    },
  }
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return address && typeof address === 'object' ? address.port : 0
}

t.test('after PostgreSQL refused connections for a while, the relay reconnects by itself', async (t) => {
  const { database: direct, url } = await createTestDatabase(t, 'postgres')
  await direct.close()
  const port = await freePort()
  const gate = proxy(port)
  await gate.start()
  const target = new URL(url ?? '')
  target.host = `127.0.0.1:${port}`
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
})

t.test('lists longer than the prepared-statement limit are still looked up correctly', async (t) => {
  const { database } = await createTestDatabase(t, 'postgres')
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
