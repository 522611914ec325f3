import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import Sqlite from 'better-sqlite3'
import { type BetterSQLite3Database, drizzle } from 'drizzle-orm/better-sqlite3'
import { migrate } from 'drizzle-orm/better-sqlite3/migrator'
import { newerMessage, planMigrations } from './pending-migrations.ts'
import * as schema from './schema.ts'

export type Db = BetterSQLite3Database<typeof schema>
/** A transaction, or the database itself: repositories accept either. */
export type Tx = Pick<
  Db,
  'select' | 'selectDistinct' | 'insert' | 'update' | 'delete' | 'run' | 'all' | 'get' | 'query'
>

export type Database = {
  db: Db
  sqlite: Sqlite.Database
  close(): void
}

const MIGRATIONS = fileURLToPath(new URL('../../drizzle', import.meta.url))

/**
 * Opens (creating if needed) the node's SQLite file and applies the committed migrations.
 *
 * WAL lets the UI read while a write commits. `synchronous = NORMAL` in WAL mode never corrupts the
 * file; a power cut can lose the last commits, not an application crash. `foreign_keys` is off by
 * default in SQLite and must be turned on per connection. `busy_timeout` covers the CLI writing while
 * the server runs.
 */
export function openDatabase(file: string): Database {
  if (file !== ':memory:') {
    // A newer ochat-node's tables: drizzle's migrator would find nothing to apply and let this build
    // run on a schema it does not know.
    const plan = planMigrations(file)
    if (plan.state === 'newer') throw new Error(newerMessage(file, plan))
    mkdirSync(dirname(file), { recursive: true })
  }
  const sqlite = new Sqlite(file)
  sqlite.pragma('journal_mode = WAL')
  sqlite.pragma('synchronous = NORMAL')
  sqlite.pragma('foreign_keys = ON')
  sqlite.pragma('busy_timeout = 5000')
  const db = drizzle(cachingStatements(sqlite), { schema })
  migrate(db, { migrationsFolder: MIGRATIONS })
  return {
    db,
    sqlite,
    close: () => {
      if (sqlite.open) sqlite.close()
    },
  }
}

/** Distinct statements kept prepared; `IN (…)` lists of many lengths make many texts, so it is bounded. */
const STATEMENT_CACHE_SIZE = 500

/**
 * drizzle prepares a new statement for every query it runs, and preparing costs as much as running a
 * small query. This keeps prepared statements by SQL text (least recently used out first). Reusing one
 * is safe because better-sqlite3 runs synchronously; drizzle switches statements into raw mode when it
 * maps columns itself, so a statement handed out again is reset to objects first.
 */
function cachingStatements(sqlite: Sqlite.Database): Sqlite.Database {
  const cache = new Map<string, Sqlite.Statement>()
  const prepare = sqlite.prepare.bind(sqlite)
  return new Proxy(sqlite, {
    get(target, property, receiver) {
      if (property !== 'prepare') return Reflect.get(target, property, receiver)
      return (source: string) => {
        let statement = cache.get(source)
        if (statement) {
          cache.delete(source)
          if (statement.reader) statement.raw(false)
        } else {
          statement = prepare(source)
          if (cache.size >= STATEMENT_CACHE_SIZE) {
            const oldest = cache.keys().next().value
            if (oldest !== undefined) cache.delete(oldest)
          }
        }
        cache.set(source, statement)
        return statement
      }
    },
  })
}
