import type { Database } from './client.ts'
import { appliedWhens, knownMigrations } from './pending-migrations.ts'

export type ReadinessAnswer = { ok: true } | { ok: false; reason: string }

/**
 * Whether the node should be sent traffic (GET /readyz): not while it is shutting down (a balancer
 * stops sending first), nor when the database does not answer or lacks a migration this build has.
 * Reasons are stable sentences for operators; they name no file, table or error.
 */
export class Readiness {
  readonly #database: Database
  /** drizzle's `created_at` of each committed migration (its journal `when`, ms). */
  readonly #expected = knownMigrations().map((migration) => migration.when)
  #shuttingDown = false

  constructor(database: Database) {
    this.#database = database
  }

  /** From now on /readyz answers 503: the process is stopping. */
  shuttingDown(): void {
    this.#shuttingDown = true
  }

  check(): ReadinessAnswer {
    if (this.#shuttingDown) return { ok: false, reason: 'error: the node is shutting down' }
    let applied: Set<number>
    try {
      this.#database.sqlite.prepare('select 1').get()
      applied = new Set(appliedWhens(this.#database.sqlite))
    } catch {
      return { ok: false, reason: 'error: the database does not answer' }
    }
    if (!this.#expected.every((when) => applied.has(when)))
      return { ok: false, reason: 'error: the database is missing migrations: run `ochat-node migrate`' }
    return { ok: true }
  }
}
