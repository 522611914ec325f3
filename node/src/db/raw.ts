import type Sqlite from 'better-sqlite3'
import { type SQL, sql } from 'drizzle-orm'
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core'
import type { Tx } from './client.ts'

/**
 * Hand-written SQL for the few statements on the hot path (posting a message to many followers),
 * where building each query through drizzle costs more than running it. Statements are prepared once
 * per connection and run on the same connection as the drizzle transaction they are called in, so
 * they are part of it.
 */
export function connectionOf(tx: Tx): Sqlite.Database {
  const session = (tx as unknown as { session?: { client?: Sqlite.Database } }).session
  if (!session?.client) throw new Error('not a better-sqlite3 drizzle database or transaction')
  return session.client
}

const perConnection = new WeakMap<Sqlite.Database, Map<string, unknown>>()

/** Drops a value built with `once`, after what it was built from changed (e.g. a new subtype). */
export function forget(tx: Tx, key: string): void {
  perConnection.get(connectionOf(tx))?.delete(key)
}

/** A value built once per connection (prepared statements, lookup tables that never change). */
export function once<T>(tx: Tx, key: string, build: (sqlite: Sqlite.Database) => T): T {
  const sqlite = connectionOf(tx)
  let map = perConnection.get(sqlite)
  if (!map) {
    map = new Map()
    perConnection.set(sqlite, map)
  }
  if (!map.has(key)) map.set(key, build(sqlite))
  return map.get(key) as T
}

/**
 * `column IN (…)` for a statement prepared with `once`: the list is one parameter, a JSON array
 * (`JSON.stringify(ids)`), so one statement serves lists of any length. SQLite still uses the
 * column's index.
 */
export function inList(column: SQLiteColumn, placeholder: string): SQL {
  return sql`${column} in (select value from json_each(${sql.placeholder(placeholder)}))`
}
