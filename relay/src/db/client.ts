import { mkdirSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import { PGlite } from '@electric-sql/pglite'
import type { ExtractTablesWithRelations, SQL } from 'drizzle-orm'
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator'
import postgres from 'postgres'
import { appliedWhens, newerMessage, planMigrations } from './pending-migrations.ts'
import * as schema from './schema.ts'

/**
 * One database API over two drivers: PostgreSQL through postgres.js when DATABASE_URL is set, and
 * PGlite (embedded PostgreSQL in WebAssembly) in the data directory otherwise. Same schema, same SQL,
 * same migrations.
 */

export type Schema = typeof schema
export type Db = PgDatabase<PgQueryResultHKT, Schema>
export type Tx = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>
/** Repositories take either, so a command decides whether they run in its transaction. */
export type Executor = Db | Tx

export type Database = {
  db: Db
  /**
   * For writes whose loss in a crash only means doing them again, such as delivery claims: their
   * commits do not wait for the WAL flush. Never for envelopes, receipts or anything answered as stored.
   */
  relaxed: Db
  /**
   * For VACUUM and ANALYZE (ops/vacuum.ts): its own connection, paced as autovacuum paces itself
   * (vacuum_cost_delay 2 ms per 200 cost units), so a pass over a large table spreads its reads and
   * writes instead of stalling everyone's commits. PGlite has one connection and is not paced.
   */
  maintenance: Db
  driver: 'postgres' | 'pglite'
  /** The PostgreSQL URL, for the postgres driver. */
  url?: string
  /** Runs `fn` on every NOTIFY on `channel`; resolves to an unsubscribe function. */
  listen(channel: string, fn: (payload: string) => void): Promise<() => Promise<void>>
  /** Throws if the database cannot answer. */
  ping(): Promise<void>
  close(): Promise<void>
}

const MIGRATIONS = fileURLToPath(new URL('../../drizzle', import.meta.url))
/** Serialises migrations when several replicas start at once. */
const MIGRATION_LOCK = 870_001

export async function openDatabase(options: {
  databaseUrl: string | undefined
  dataDir: string
}): Promise<Database> {
  return options.databaseUrl ? openPostgres(options.databaseUrl) : openPglite(`${options.dataDir}/pglite`)
}

export async function openPostgres(url: string): Promise<Database> {
  const pool = (max: number, settings: Record<string, string> = {}) =>
    postgres(url, {
      max,
      onnotice: () => {},
      transform: { undefined: null },
      // No array-type lookup when a connection opens: nothing here sends or reads PostgreSQL arrays
      // (lists go as JSON), and postgres.js 3.4.9 turns a connection killed during that lookup (a
      // restart or failover) into an unhandled rejection, which ends the process (test/replicas.test.ts,
      // "a dropped database connection").
      fetch_types: false,
      // Plan each execution with the tables as they are: a generic plan cached while a table was small
      // keeps scanning it whole once it is large (every statement here is prepared).
      // No JIT: it compiles for milliseconds to save microseconds on these short statements, and a claim
      // over a large queue is estimated costly enough to trigger it.
      connection: { plan_cache_mode: 'force_custom_plan', jit: 'off', ...settings },
      // Supported by postgres.js, missing from its typings.
      ...({ socket: socketsWithoutDelay() } as object),
    })
  const client = pool(10)
  const relaxedClient = pool(3, { synchronous_commit: 'off' })
  const maintenanceClient = pool(1, { vacuum_cost_delay: '2', vacuum_cost_limit: '200' })
  const db = drizzlePostgres(alwaysPrepared(client), { schema }) as unknown as Db
  return {
    db,
    relaxed: drizzlePostgres(alwaysPrepared(relaxedClient), { schema }) as unknown as Db,
    maintenance: drizzlePostgres(maintenanceClient, { schema }) as unknown as Db,
    driver: 'postgres',
    url,
    async listen(channel, fn) {
      const subscription = await client.listen(channel, (payload) => fn(payload))
      return () => subscription.unlisten()
    },
    async ping() {
      await client`select 1`
    },
    async close() {
      await relaxedClient.end({ timeout: 5 })
      await maintenanceClient.end({ timeout: 5 })
      await client.end({ timeout: 5 })
    },
  }
}

/**
 * drizzle runs every statement with postgres.js's `prepare: false`. postgres.js then sends a Describe
 * and waits for its answer before each statement with parameters: two round trips per statement, and
 * statements of one transaction cannot be pipelined. Prepared (named, cached per connection), a
 * statement costs one round trip after its first use, and independent ones go out together. Plans
 * are still made per execution (plan_cache_mode above). Hot paths pass lists as one JSON parameter.
 */
const MAX_PREPARED_PARAMS = 16

function alwaysPrepared(sql: postgres.Sql): postgres.Sql {
  const wrapScope =
    (open: (...args: unknown[]) => unknown) =>
    (...args: unknown[]) => {
      const last = args.length - 1
      const body = args[last] as (scoped: postgres.Sql) => unknown
      return open(...args.slice(0, last), (scoped: postgres.Sql) => body(alwaysPrepared(scoped)))
    }
  return new Proxy(sql, {
    get(target, key) {
      if (key === 'unsafe')
        return (query: string, params?: unknown[], options?: object) =>
          target.unsafe(query, params as never, {
            ...options,
            // A list written as one parameter per value makes a new statement text per length: those
            // stay unprepared, so the per-connection statement cache stays bounded.
            prepare: (params?.length ?? 0) <= MAX_PREPARED_PARAMS,
          })
      if (key === 'begin' || key === 'savepoint') return wrapScope(Reflect.get(target, key).bind(target))
      const value = Reflect.get(target, key)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

/**
 * postgres.js leaves Nagle's algorithm on: the tail of a pipelined write then waits for the server's
 * delayed ACK. Its `socket` option lets us open the TCP connection with TCP_NODELAY. The socket goes
 * back unconnected, so postgres.js still handles connect errors, its connect timeout, reconnects and
 * TLS (whose server name it reads from `socket.host`); hosts are tried in turn, as postgres.js does.
 */
function socketsWithoutDelay(): (options: {
  host: string[]
  port: number[]
  path: string | false
}) => Socket {
  let attempt = 0
  return (options) => {
    if (options.path) return connect({ path: options.path })
    const index = attempt++ % Math.max(1, options.host.length)
    const host = options.host[index] ?? 'localhost'
    const port = options.port[index] ?? 5432
    return Object.assign(connect({ host, port, noDelay: true }), { host, port })
  }
}

/** PGlite in `dataDir`, or in memory without one. */
export async function openPglite(dataDir: string | undefined): Promise<Database> {
  if (dataDir) mkdirSync(dataDir, { recursive: true })
  const client = dataDir ? new PGlite(dataDir) : new PGlite()
  await client.waitReady
  return pgliteDatabase(client)
}

/** The Database API over an open PGlite client. */
export function pgliteDatabase(client: PGlite): Database {
  const db = drizzlePglite(client, { schema }) as unknown as Db
  return {
    db,
    relaxed: db,
    maintenance: db,
    driver: 'pglite',
    async listen(channel, fn) {
      return client.listen(channel, fn)
    },
    async ping() {
      await client.query('select 1')
    },
    async close() {
      await client.close()
    },
  }
}

/** Applies the committed migrations; safe to run from several replicas at once. */
export async function migrateDatabase(database: Database): Promise<void> {
  // A newer ochat-relay's tables: drizzle's migrator would find nothing to apply and let this build
  // run on a schema it does not know.
  const plan = planMigrations(await appliedWhens(database.db as Executor))
  if (plan.state === 'newer') throw new Error(newerMessage(plan))
  if (database.driver === 'pglite') {
    await migratePglite(database.db as never, { migrationsFolder: MIGRATIONS })
    return
  }
  // A session advisory lock needs one connection for lock, migrate and unlock: a second replica waits
  // on the lock, then finds nothing left to do.
  const one = postgres(database.url ?? '', { max: 1, onnotice: () => {} })
  try {
    await one`select pg_advisory_lock(${MIGRATION_LOCK})`
    await migratePostgres(drizzlePostgres(one), { migrationsFolder: MIGRATIONS })
    await one`select pg_advisory_unlock(${MIGRATION_LOCK})`
  } finally {
    await one.end({ timeout: 5 })
  }
}

/** Rows of a raw query, whichever driver ran it (postgres.js returns an array, PGlite `{ rows }`). */
export async function rows<T>(executor: Executor, query: SQL): Promise<T[]> {
  const result = (await executor.execute(query)) as unknown
  if (Array.isArray(result)) return result as T[]
  return ((result as { rows?: T[] }).rows ?? []) as T[]
}
