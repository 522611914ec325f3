import type Sqlite from 'better-sqlite3'
import type { Database, Db, Tx } from './client.ts'

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown }
type Job = { work: (tx: Tx) => unknown; resolve: (value: unknown) => void; reject: (error: unknown) => void }

/** At most this many writes share one commit, so one batch cannot hold the event loop for long. */
const MAX_BATCH = 64

/**
 * Group commit for SQLite. Writes that arrive in the same turn of the event loop run one after the
 * other in one transaction, each inside its own savepoint: a write that throws is rolled back alone
 * and its caller gets the error, the others commit together. A commit writes every page it touched to
 * the WAL, and a post to 50 followers touches dozens of pages of the partner-ordered inbox index;
 * posts committed together touch those pages once, not once each.
 *
 * Jobs are synchronous (better-sqlite3 is), so nothing interleaves inside a batch; callers see their
 * result only after the commit, so nothing is published or answered for a write that did not land.
 */
export class WriteQueue {
  readonly #db: Db
  /** The whole batch, and each job inside its own savepoint, as better-sqlite3 transactions. */
  readonly #batch: Sqlite.Transaction<(jobs: Job[]) => Outcome[]>
  #jobs: Job[] = []
  #scheduled = false

  constructor(database: Pick<Database, 'db' | 'sqlite'>) {
    this.#db = database.db
    // better-sqlite3 turns a transaction function called inside another into a SAVEPOINT, natively.
    const inSavepoint = database.sqlite.transaction((job: Job) => job.work(this.#db))
    this.#batch = database.sqlite.transaction((jobs: Job[]) => {
      // Alone: no savepoint needed; an error rolls the whole transaction back.
      if (jobs.length === 1) return [{ ok: true as const, value: jobs[0]?.work(this.#db) }]
      return jobs.map((job): Outcome => {
        try {
          return { ok: true, value: inSavepoint(job) }
        } catch (error) {
          return { ok: false, error }
        }
      })
    })
  }

  run<T>(work: (tx: Tx) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#jobs.push({ work, resolve: resolve as (value: unknown) => void, reject })
      this.#schedule()
    })
  }

  #schedule(): void {
    if (this.#scheduled) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      this.#flush()
    })
  }

  #flush(): void {
    const jobs = this.#jobs.splice(0, MAX_BATCH)
    if (this.#jobs.length > 0) this.#schedule()
    if (jobs.length === 0) return
    let outcomes: Outcome[]
    try {
      outcomes = this.#batch(jobs)
    } catch (error) {
      // The commit failed (or the only job threw): nothing of this batch is written.
      if (jobs.length === 1) jobs[0]?.reject(error)
      else for (const job of jobs) job.reject(error)
      return
    }
    jobs.forEach((job, index) => {
      const outcome = outcomes[index]
      if (outcome?.ok) job.resolve(outcome.value)
      else job.reject(outcome?.error)
    })
  }
}
