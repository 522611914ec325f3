import { getTableName, is, sql } from 'drizzle-orm'
import { PgTable } from 'drizzle-orm/pg-core'
import { type Database, rows } from '../db/client.ts'
import * as schema from '../db/schema.ts'

/**
 * Keeps the relay's tables small when nothing else does. Every envelope inserts a queue row (its
 * ciphertext, about 3 KB on a page kept half empty for claims) and deletes it on acknowledgement; a
 * deleted row's space is reused only after VACUUM. PGlite never vacuums (it has no autovacuum worker),
 * and a PostgreSQL server may run with autovacuum off: then the files grow with every envelope ever
 * sent, and every checkpoint writes ever more new pages. In `auto` mode the relay does the work itself
 * in exactly those two cases, with autovacuum's own rules, and leaves a server's autovacuum alone.
 */

export type VacuumMode = 'auto' | 'on' | 'off'

/** Every table of the relay's schema: the rules below decide which ones need work. */
const TABLES = new Set<string>(
  Object.values(schema).flatMap((value) => (is(value, PgTable) ? [getTableName(value)] : [])),
)

/**
 * autovacuum's defaults (PostgreSQL 15, "The Autovacuum Daemon"): vacuum past 50 dead rows plus 20 % of
 * the live ones, or past 1,000 inserts plus 20 % (so pages become all-visible); analyse past 50 changed
 * rows plus 10 %.
 */
const RULES = {
  vacuum: { base: 50, fraction: 0.2 },
  insert: { base: 1000, fraction: 0.2 },
  analyze: { base: 50, fraction: 0.1 },
}

/** Whether this relay vacuums its own tables: in `auto`, when nothing else will. */
export async function vacuumsItself(database: Database, mode: VacuumMode): Promise<boolean> {
  if (mode !== 'auto') return mode === 'on'
  if (database.driver === 'pglite') return true
  const [setting] = await rows<{ autovacuum: string }>(
    database.db,
    sql`select current_setting('autovacuum') as autovacuum`,
  )
  return setting?.autovacuum !== 'on'
}

export type TableStats = {
  table: string
  live: number
  dead: number
  insertedSinceVacuum: number
  modifiedSinceAnalyze: number
}

/** The work autovacuum's rules call for on one table. */
export function workFor(stats: TableStats): { vacuum: boolean; analyze: boolean } {
  const past = (rule: { base: number; fraction: number }, count: number) =>
    count > rule.base + rule.fraction * stats.live
  return {
    vacuum: past(RULES.vacuum, stats.dead) || past(RULES.insert, stats.insertedSinceVacuum),
    analyze: past(RULES.analyze, stats.modifiedSinceAnalyze),
  }
}

/**
 * One pass: reads the statistics of the relay's tables, then vacuums (and analyses) each one past
 * autovacuum's thresholds. SKIP_LOCKED: a table another replica is vacuuming is left to it. Returns
 * what it did, table by table.
 */
export async function vacuumPass(database: Database): Promise<{ vacuumed: string[]; analyzed: string[] }> {
  // PGlite's one backend reports its counters only when told to; a server's backends report their own
  // within seconds.
  if (database.driver === 'pglite') await database.db.execute(sql`select pg_stat_force_next_flush()`)
  const stats = await rows<{
    table: string
    live: string | number
    dead: string | number
    inserted: string | number
    modified: string | number
  }>(
    database.db,
    sql`select relname as table, n_live_tup as live, n_dead_tup as dead,
               n_ins_since_vacuum as inserted, n_mod_since_analyze as modified
        from pg_stat_user_tables where schemaname = current_schema()`,
  )
  const vacuumed: string[] = []
  const analyzed: string[] = []
  for (const row of stats) {
    if (!TABLES.has(row.table)) continue
    const work = workFor({
      table: row.table,
      live: Number(row.live),
      dead: Number(row.dead),
      insertedSinceVacuum: Number(row.inserted),
      modifiedSinceAnalyze: Number(row.modified),
    })
    const table = sql.identifier(row.table)
    if (work.vacuum) {
      await database.db.execute(
        work.analyze ? sql`vacuum (skip_locked, analyze) ${table}` : sql`vacuum (skip_locked) ${table}`,
      )
      vacuumed.push(row.table)
    } else if (work.analyze) await database.db.execute(sql`analyze (skip_locked) ${table}`)
    if (work.analyze) analyzed.push(row.table)
  }
  return { vacuumed, analyzed }
}
