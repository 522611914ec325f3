import { getTableName, is, sql } from 'drizzle-orm'
import { PgTable } from 'drizzle-orm/pg-core'
import { type Database, rows } from '../db/client.ts'
import * as schema from '../db/schema.ts'

/**
 * Keeps the relay's tables small when nothing else does. Every envelope inserts a queue row (its
 * ciphertext, about 3 KB on a page kept half empty for claims) and deletes it on acknowledgement; a
 * deleted row's space is reused only after VACUUM. PGlite never vacuums (it has no autovacuum worker),
 * and a PostgreSQL server may run with autovacuum off: then the files grow with every envelope ever
 * sent, and every checkpoint writes ever more new pages. The relay then does the work itself, with
 * autovacuum's own rules (see vacuumsItself for when).
 */

export type VacuumMode = 'auto' | 'on' | 'off'

/** Every table of the relay's schema: the rules below decide which ones need work. */
const TABLES = new Set<string>(
  Object.values(schema).flatMap((value) => (is(value, PgTable) ? [getTableName(value)] : [])),
)

/**
 * autovacuum's defaults (PostgreSQL 15, "The Autovacuum Daemon"): vacuum past 50 dead rows plus 20 % of
 * the live ones, or once the table's oldest unfrozen transaction is 200 million old (so transaction ids
 * never wrap around); analyse past 50 changed rows plus 10 %. Not its insert rule: the queue's rows are
 * deleted soon after they are inserted, and the rule had a growing backlog of undelivered items
 * vacuumed every 10 s only to mark its new pages all-visible.
 */
const RULES = {
  vacuum: { base: 50, fraction: 0.2 },
  analyze: { base: 50, fraction: 0.1 },
  freezeMaxAge: 200_000_000,
  /**
   * autovacuum visits a database once a minute (autovacuum_naptime), so it analyses a table at most
   * that often. Passes here come every 10 s, to vacuum a busy queue before it bloats; sampling a large
   * queue every 10 s cost 0.2-0.4 s a time.
   */
  analyzeEverySeconds: 60,
}

/**
 * Who vacuums the relay's tables. In `auto`, the relay does on PGlite, which has no autovacuum worker.
 * On a PostgreSQL server it leaves the work to the server, and says so when the server's autovacuum is
 * off. On a server the relay's own paced VACUUM of a busy queue has held acknowledgements for seconds,
 * for a reason not yet found (docs/performance.md), so it runs there only when asked (`on`).
 */
export async function vacuumsItself(
  database: Database,
  mode: VacuumMode,
): Promise<{ vacuums: boolean; serverAutovacuum?: boolean }> {
  if (database.driver === 'pglite') return { vacuums: mode !== 'off' }
  const [setting] = await rows<{ autovacuum: string }>(
    database.db,
    sql`select current_setting('autovacuum') as autovacuum`,
  )
  return { vacuums: mode === 'on', serverAutovacuum: setting?.autovacuum === 'on' }
}

export type TableStats = {
  table: string
  live: number
  dead: number
  modifiedSinceAnalyze: number
  /** Whether this table was analysed (by anyone) within the last minute. */
  analyzedRecently: boolean
  /** age(relfrozenxid): transactions since the table's oldest unfrozen one. */
  xidAge: number
}

/** The work autovacuum's rules call for on one table. */
function workFor(stats: TableStats): { vacuum: boolean; analyze: boolean } {
  const past = (rule: { base: number; fraction: number }, count: number) =>
    count > rule.base + rule.fraction * stats.live
  return {
    vacuum: past(RULES.vacuum, stats.dead) || stats.xidAge > RULES.freezeMaxAge,
    analyze: past(RULES.analyze, stats.modifiedSinceAnalyze) && !stats.analyzedRecently,
  }
}

/**
 * The relay's vacuum passes: one at a time (a slow pass is not stacked on by the next tick), each
 * reading the statistics of the relay's tables, then vacuuming (and analysing) each one past
 * autovacuum's thresholds. SKIP_LOCKED: a table another replica is vacuuming is left to it. A pass is
 * cancelled at shutdown rather than waited for: a paced VACUUM of a large table takes many seconds, and
 * cancelling one loses nothing but its progress.
 */
export class TableVacuum {
  readonly #database: Database
  readonly #onVacuumed: (table: string) => void
  #running: Promise<void> | undefined
  /** The maintenance connection's server process, while a pass runs on it (PostgreSQL only). */
  #backendPid: number | undefined
  #stopped = false

  constructor(database: Database, onVacuumed: (table: string) => void = () => {}) {
    this.#database = database
    this.#onVacuumed = onVacuumed
  }

  /** Runs a pass, or joins the one running. */
  run(): Promise<void> {
    if (this.#stopped) return Promise.resolve()
    this.#running ??= this.#pass()
      .catch((error: unknown) => {
        // A pass cancelled by stop() is not a failure.
        if (!this.#stopped) throw error
      })
      .finally(() => {
        this.#running = undefined
        this.#backendPid = undefined
      })
    return this.#running
  }

  /** No more passes; the running one is cancelled, and its cancellation is not an error. */
  async stop(): Promise<void> {
    this.#stopped = true
    const running = this.#running
    if (!running) return
    const pid = this.#backendPid
    if (pid !== undefined)
      await this.#database.db.execute(sql`select pg_cancel_backend(${pid})`).catch(() => {})
    await running.catch(() => {})
  }

  async #pass(): Promise<void> {
    const database = this.#database
    if (database.driver === 'pglite') {
      // PGlite's one backend reports its counters only when told to; a server's backends report their
      // own within seconds.
      await database.db.execute(sql`select pg_stat_force_next_flush()`)
    } else {
      const [backend] = await rows<{ pid: number }>(database.maintenance, sql`select pg_backend_pid() as pid`)
      this.#backendPid = backend?.pid
    }
    for (const row of await tableStats(database)) {
      if (this.#stopped) return
      const work = workFor(row)
      const table = sql.identifier(row.table)
      if (work.vacuum) {
        await database.maintenance.execute(
          work.analyze ? sql`vacuum (skip_locked, analyze) ${table}` : sql`vacuum (skip_locked) ${table}`,
        )
        this.#onVacuumed(row.table)
      } else if (work.analyze) await database.maintenance.execute(sql`analyze (skip_locked) ${table}`)
    }
  }
}

/** The statistics of the relay's own tables. */
async function tableStats(database: Database): Promise<TableStats[]> {
  const stats = await rows<{
    table: string
    live: string | number
    dead: string | number
    modified: string | number
    analyzed_recently: boolean
    xid_age: string | number
  }>(
    database.db,
    sql`select s.relname as table, s.n_live_tup as live, s.n_dead_tup as dead,
               s.n_mod_since_analyze as modified, age(c.relfrozenxid) as xid_age,
               coalesce(greatest(s.last_analyze, s.last_autoanalyze)
                 > now() - make_interval(secs => ${RULES.analyzeEverySeconds}), false) as analyzed_recently
        from pg_stat_user_tables s join pg_class c on c.oid = s.relid
        where s.schemaname = current_schema()`,
  )
  return stats
    .filter((row) => TABLES.has(row.table))
    .map((row) => ({
      table: row.table,
      live: Number(row.live),
      dead: Number(row.dead),
      modifiedSinceAnalyze: Number(row.modified),
      analyzedRecently: row.analyzed_recently,
      xidAge: Number(row.xid_age),
    }))
}
