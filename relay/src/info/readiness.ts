import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { type Reason, reason } from '@ochat/shared-protocol'
import { sql } from 'drizzle-orm'
import { z } from 'zod'
import { type Database, rows } from '../db/client.ts'
import type { LeaseLoopHealth } from '../delivery/lease-loop.ts'

const JOURNAL = fileURLToPath(new URL('../../drizzle/meta/_journal.json', import.meta.url))
const JournalSchema = z.object({ entries: z.array(z.object({ tag: z.string(), when: z.number() })) })

export type ReadinessAnswer = { ok: true } | { ok: false; reason: Reason }

/**
 * Whether this replica should be sent traffic (GET /readyz). Not ready while shutting down (so a
 * balancer stops sending first), when the database does not answer, when a migration this build has is
 * missing from the database, and when the lease heartbeat stopped or is late. Migrations newer than
 * this build are fine: during a rolling upgrade the replicas not yet replaced keep serving.
 */
export class Readiness {
  readonly #database: Database
  readonly #leaseLoop: () => LeaseLoopHealth
  /** drizzle's `created_at` of each committed migration (its journal `when`, ms). */
  readonly #expected: number[]
  #shuttingDown = false

  constructor(props: { database: Database; leaseLoop: () => LeaseLoopHealth }) {
    this.#database = props.database
    this.#leaseLoop = props.leaseLoop
    const journal = JournalSchema.parse(JSON.parse(readFileSync(JOURNAL, 'utf8')))
    this.#expected = journal.entries.map((entry) => entry.when)
  }

  /** From now on /readyz answers 503: the process is stopping. */
  shuttingDown(): void {
    this.#shuttingDown = true
  }

  get isShuttingDown(): boolean {
    return this.#shuttingDown
  }

  async check(): Promise<ReadinessAnswer> {
    if (this.#shuttingDown) return notReady('the relay is shutting down')
    let applied: Set<number>
    try {
      await this.#database.ping()
      applied = await this.#appliedMigrations()
    } catch {
      return notReady('the database does not answer')
    }
    if (!this.#expected.every((when) => applied.has(when)))
      return notReady('the database is missing migrations: run `ochat-relay migrate`')
    const heartbeat = this.#leaseLoop()
    if (heartbeat === 'stopped') return notReady('the socket lease heartbeat is stopped')
    if (heartbeat === 'late') return notReady('the socket lease heartbeat is late')
    return { ok: true }
  }

  /** What drizzle's migrator recorded; nothing when it never ran on this database. */
  async #appliedMigrations(): Promise<Set<number>> {
    const [table] = await rows<{ present: boolean }>(
      this.#database.db,
      sql`select to_regclass('drizzle.__drizzle_migrations') is not null as present`,
    )
    if (!table?.present) return new Set()
    const recorded = await rows<{ created_at: string | number }>(
      this.#database.db,
      sql`select created_at from drizzle.__drizzle_migrations`,
    )
    return new Set(recorded.map((row) => Number(row.created_at)))
  }
}

function notReady(text: string): ReadinessAnswer {
  return { ok: false, reason: reason('error', text) }
}
