import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import {
  describePlan,
  type Migration,
  type MigrationPlan,
  newerRefusal,
  planFrom,
  readMigrations,
} from '@ochat/shared-protocol/server'
import Sqlite from 'better-sqlite3'

/** What `ochat-node migrate` would do to a SQLite file, found without changing it (the rule: migrations.ts). */

const MIGRATIONS = fileURLToPath(new URL('../../drizzle', import.meta.url))

export { describePlan, type Migration, type MigrationPlan }

/** The migrations in `folder` (the committed ones by default), oldest first. */
export function knownMigrations(folder = MIGRATIONS): Migration[] {
  return readMigrations(folder)
}

/** The plan for the SQLite file at `file`, opened read-only; a missing file gets every migration. */
export function planMigrations(file: string, known = knownMigrations()): MigrationPlan {
  if (!existsSync(file)) return planFrom(known, [])
  const sqlite = new Sqlite(file, { readonly: true, fileMustExist: true })
  try {
    return planFrom(known, appliedWhens(sqlite))
  } finally {
    sqlite.close()
  }
}

/** The `when` of every migration recorded in the database, oldest first (none before the first migrate). */
export function appliedWhens(sqlite: Sqlite.Database): number[] {
  const table = sqlite
    .prepare(`select 1 from sqlite_master where type = 'table' and name = '__drizzle_migrations'`)
    .get()
  if (!table) return []
  return (
    sqlite.prepare('select created_at as "when" from __drizzle_migrations order by created_at').all() as {
      when: number | string
    }[]
  ).map((row) => Number(row.when))
}

/** The refusal for a database a newer build migrated. */
export function newerMessage(file: string, plan: { when: number; latest: Migration | undefined }): string {
  return newerRefusal({ database: file, program: 'ochat-node' }, plan)
}
