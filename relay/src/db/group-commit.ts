import { errorCode } from '../errors.ts'

export type GroupCommitOptions<Job, Result> = {
  /** Writes a batch in one transaction; one result per job, in order. */
  write: (jobs: Job[]) => Promise<Result[]>
  /** Batches in flight at once. */
  concurrency: number
  /** A batch stops growing past this weight (its first job always goes in). */
  maxWeight: number
  weight: (job: Job) => number
}

type Waiting<Job, Result> = { job: Job; resolve: (result: Result) => void; reject: (error: unknown) => void }

/**
 * Group commit: every commit waits for a WAL flush, so rows written together in one transaction cost a
 * fraction of rows committed one by one (docs/performance.md).
 * Jobs wait in memory; a writer takes all that are waiting, writes them in one transaction, and answers
 * each only after the commit. While one batch commits the next one gathers, so batches grow with load
 * and latency stays about one commit.
 */
export class GroupCommit<Job, Result> {
  readonly #props: GroupCommitOptions<Job, Result>
  #waiting: Waiting<Job, Result>[] = []
  readonly #writing = new Set<Promise<void>>()
  #scheduled = false

  constructor(props: GroupCommitOptions<Job, Result>) {
    this.#props = props
  }

  /** Resolves with the job's result after its batch commits. */
  submit(job: Job): Promise<Result> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ job, resolve, reject })
      // A batch starts once the event loop's current phase is done: every submit that arrived in it
      // (frames read from many sockets at once) shares the commit, instead of the first going alone.
      if (this.#scheduled) return
      this.#scheduled = true
      setImmediate(() => {
        this.#scheduled = false
        this.#pump()
      })
    })
  }

  /** Waits for what is being written and what is waiting. */
  async drain(): Promise<void> {
    while (this.#writing.size > 0 || this.#scheduled) {
      if (this.#writing.size === 0) await new Promise((resolve) => setImmediate(resolve))
      else await Promise.allSettled([...this.#writing])
    }
  }

  #pump(): void {
    if (this.#writing.size >= this.#props.concurrency || this.#waiting.length === 0) return
    const batch: Waiting<Job, Result>[] = []
    let weight = 0
    for (const next of this.#waiting) {
      const more = this.#props.weight(next.job)
      if (batch.length > 0 && weight + more > this.#props.maxWeight) break
      batch.push(next)
      weight += more
    }
    this.#waiting = this.#waiting.slice(batch.length)
    const writing = this.#write(batch).finally(() => {
      this.#writing.delete(writing)
      this.#pump()
    })
    this.#writing.add(writing)
  }

  async #write(batch: Waiting<Job, Result>[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const results = await this.#props.write(batch.map((entry) => entry.job))
        batch.forEach((entry, index) => {
          const result = results[index]
          if (result === undefined) entry.reject(new Error('group commit: no result for a job'))
          else entry.resolve(result)
        })
        return
      } catch (error) {
        if (attempt < 3 && RETRYABLE.has(errorCode(error) ?? '')) continue
        // One bad job must not fail the others it was batched with: write each on its own.
        if (batch.length > 1) {
          for (const entry of batch) await this.#write([entry])
          return
        }
        for (const entry of batch) entry.reject(error)
        return
      }
    }
  }
}

/**
 * Retried: deadlocks and serialization failures between replicas (40P01, 40001), and a unique violation
 * (23505) when two batches in flight carry the same new id; on retry it is found and answered as a duplicate.
 */
const RETRYABLE = new Set(['40P01', '40001', '23505'])
