import { type Envelope, reason, type SubmitResult } from '@ochat/shared-protocol'
import { sql } from 'drizzle-orm'
import type { Clock } from '../clock.ts'
import { type Db, rows } from '../db/client.ts'
import { wakePayloads } from '../delivery/queue-repository.ts'
import { errorCode } from '../errors.ts'

/**
 * Group commit for envelope submits (issue 3: PostgreSQL does ~2.6k single-row commits/s here but
 * 24–42k rows/s batched). Every submit waits in memory; one writer takes all that are waiting, writes
 * them in one transaction, and answers each only after the commit: the durable write comes first.
 * While a batch commits the next one gathers, so batches grow with load and latency stays one commit.
 */

type Job = {
  sender: string
  envelopes: Envelope[]
  resolve: (results: SubmitResult[]) => void
  reject: (error: unknown) => void
}

/** Largest batch written in one transaction, in envelopes. */
const MAX_BATCH_ENVELOPES = 5000
/**
 * Two batches may be in flight: while one waits for its commit, the next is sent. Order per connection
 * stays best effort (DESIGN.md), and sequence numbers follow commit order.
 */
const CONCURRENT_BATCHES = 2
/**
 * Retried: deadlocks and serialization failures between replicas (40P01, 40001), and a unique violation
 * (23505) when two batches in flight carry the same new id; on retry it is found and answered as a duplicate.
 */
const RETRYABLE = new Set(['40P01', '40001', '23505'])

export class EnvelopeWriter {
  readonly #db: Db
  readonly #clock: Clock
  readonly #deadlineMs: number
  #jobs: Job[] = []
  readonly #writing = new Set<Promise<void>>()

  readonly #onCommitted: (envelopes: number) => void

  constructor(props: {
    db: Db
    clock: Clock
    /** Undelivered envelopes fail after this long. */
    deadlineMs: number
    /** Told how many new envelopes each commit stored (metrics). */
    onCommitted?: (envelopes: number) => void
  }) {
    this.#db = props.db
    this.#clock = props.clock
    this.#deadlineMs = props.deadlineMs
    this.#onCommitted = props.onCommitted ?? (() => {})
  }

  /** Resolves with one result per envelope, in order, after the durable write. */
  submit(sender: string, envelopes: Envelope[]): Promise<SubmitResult[]> {
    return new Promise((resolve, reject) => {
      this.#jobs.push({ sender, envelopes, resolve, reject })
      this.#pump()
    })
  }

  /** Waits for what is being written and what is waiting. */
  async drain(): Promise<void> {
    while (this.#writing.size > 0) await Promise.allSettled([...this.#writing])
  }

  #pump(): void {
    if (this.#writing.size >= CONCURRENT_BATCHES || this.#jobs.length === 0) return
    const batch: Job[] = []
    let count = 0
    while (
      this.#jobs.length > 0 &&
      (batch.length === 0 || count + (this.#jobs[0]?.envelopes.length ?? 0) <= MAX_BATCH_ENVELOPES)
    ) {
      const job = this.#jobs.shift()
      if (!job) break
      batch.push(job)
      count += job.envelopes.length
    }
    const writing = this.#write(batch).finally(() => {
      this.#writing.delete(writing)
      this.#pump()
    })
    this.#writing.add(writing)
  }

  async #write(batch: Job[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const results = await this.#writeBatch(this.#db, batch)
        this.#onCommitted(results.flat().filter((result) => result.ok && !result.duplicate).length)
        batch.forEach((job, index) => {
          job.resolve(results[index] ?? [])
        })
        return
      } catch (error) {
        if (attempt < 3 && RETRYABLE.has(errorCode(error) ?? '')) continue
        // One bad submit must not fail the others it was batched with: write each on its own.
        if (batch.length > 1) {
          for (const job of batch) await this.#write([job])
          return
        }
        for (const job of batch) job.reject(error)
        return
      }
    }
  }

  async #writeBatch(db: Db, batch: Job[]): Promise<SubmitResult[][]> {
    const nowMs = this.#clock.now()
    const results: SubmitResult[][] = batch.map((job) => new Array<SubmitResult>(job.envelopes.length))
    const entries = batch.flatMap((job, jobIndex) =>
      job.envelopes.map((envelope, index) => ({ job, jobIndex, index, envelope, sender: job.sender })),
    )
    type Entry = (typeof entries)[number]
    const answer = (entry: Entry, result: SubmitResult) => {
      const list = results[entry.jobIndex]
      if (list) list[entry.index] = result
    }
    const taken = (id: string): SubmitResult => ({
      ok: false,
      id,
      code: 'E_ENVELOPE_ID_TAKEN',
      reason: reason('invalid', 'envelope id is already used; choose another'),
    })

    // A repeat within this batch gets the answer of its first copy; only first copies are written.
    const fresh: Entry[] = []
    const repeats: { entry: Entry; first: Entry }[] = []
    const firstInBatch = new Map<string, Entry>()
    for (const entry of entries) {
      const first = firstInBatch.get(entry.envelope.header.id)
      if (first) repeats.push({ entry, first })
      else {
        firstInBatch.set(entry.envelope.header.id, entry)
        fresh.push(entry)
      }
    }

    // One statement writes the batch: repeats of stored ids, the connection check, sequence numbers,
    // envelope rows, queue items, blob grants and the wake-up (drizzle/0001_submit_envelopes.sql).
    const batchJson = JSON.stringify(
      fresh.map(({ sender, envelope }, i) => ({
        i,
        id: envelope.header.id,
        sender,
        to: envelope.header.to,
        size: Math.floor((envelope.ciphertext.length * 3) / 4),
        blobs: envelope.header.blobs ?? null,
      })),
    )
    // JSON.stringify never writes a raw line feed, so one per line is unambiguous.
    const envelopeLines = fresh.map((entry) => JSON.stringify(entry.envelope)).join('\n')
    const wakes = JSON.stringify(wakePayloads(fresh.map((entry) => entry.envelope.header.to)))
    const outcomes = await rows<{
      i: number
      outcome: 'stored' | 'prior' | 'unconnected'
      seq: string | number | null
      prior_sender: string | null
      accepted_at: string | number | null
    }>(
      db,
      sql`select * from ochat_submit_envelopes(${batchJson}::json, ${envelopeLines}::text, ${wakes}::json,
            ${nowMs}::bigint, ${nowMs + this.#deadlineMs}::bigint)`,
    )
    for (const row of outcomes) {
      const entry = fresh[row.i]
      if (!entry) continue
      const { id, to } = entry.envelope.header
      if (row.outcome === 'stored') answer(entry, { ok: true, id, seq: Number(row.seq), acceptedAt: nowMs })
      else if (row.outcome === 'prior')
        answer(
          entry,
          row.prior_sender === entry.sender
            ? { ok: true, id, seq: Number(row.seq), acceptedAt: Number(row.accepted_at), duplicate: true }
            : taken(id),
        )
      else
        answer(entry, {
          ok: false,
          id,
          code: 'E_CONNECTION_NOT_ACCEPTED',
          reason: reason('blocked', `no accepted connection with ${to}`),
        })
    }
    for (const { entry, first } of repeats) {
      const original = results[first.jobIndex]?.[first.index]
      answer(
        entry,
        first.sender !== entry.sender || !original
          ? taken(entry.envelope.header.id)
          : original.ok
            ? { ...original, duplicate: true }
            : original,
      )
    }
    return results
  }
}
