import { fileURLToPath } from 'node:url'
import {
  describePlan,
  type Migration,
  type MigrationPlan,
  newerRefusal,
  planFrom,
  readMigrations,
} from '@ochat/shared-protocol/server'
import { sql } from 'drizzle-orm'
import { type Executor, rows } from './client.ts'

/**
 * What `ochat-relay migrate` would do to a database, found without changing it (the rule:
 * shared-protocol's migrations.ts); drizzle records applied migrations in drizzle.__drizzle_migrations.
 */

const MIGRATIONS = fileURLToPath(new URL('../../drizzle', import.meta.url))

export { describePlan, type Migration, type MigrationPlan }

/** The migrations in `folder` (the committed ones by default), oldest first. */
export function knownMigrations(folder = MIGRATIONS): Migration[] {
  return readMigrations(folder)
}

/** The `when` of every migration recorded in the database, oldest first (none before the first migrate). */
export async function appliedWhens(db: Executor): Promise<number[]> {
  const [table] = await rows<{ name: string | null }>(
    db,
    sql`select to_regclass('drizzle.__drizzle_migrations')::text as name`,
  )
  if (!table?.name) return []
  const recorded = await rows<{ when: string | number }>(
    db,
    sql`select created_at as "when" from drizzle.__drizzle_migrations order by created_at`,
  )
  return recorded.map((row) => Number(row.when))
}

/** The plan for a database whose recorded migrations are `applied` (see appliedWhens). */
export function planMigrations(applied: number[], known = knownMigrations()): MigrationPlan {
  return planFrom(known, applied)
}

/** The refusal for a database a newer build migrated. */
export function newerMessage(plan: { when: number; latest: Migration | undefined }): string {
  return newerRefusal({ database: 'the database', program: 'ochat-relay' }, plan)
}
