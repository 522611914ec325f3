import { type Envelope, reason, type SubmitResult } from '@ochat/shared-protocol'
import { sql } from 'drizzle-orm'
import type { Clock } from '../clock.ts'
import { type Db, rows } from '../db/client.ts'
import { GroupCommit } from '../db/group-commit.ts'
import { wakePayloads } from '../delivery/queue-repository.ts'

type Job = { sender: string; envelopes: Envelope[] }

/** Largest batch written in one transaction, in envelopes. */
const MAX_BATCH_ENVELOPES = 5000

/**
 * Envelope submits, group-committed (db/group-commit.ts): each is answered only after the durable write.
 * Two batches may be in flight: while one waits for its commit, the next is sent. Order per connection
 * stays best effort (DESIGN.md), and sequence numbers follow commit order.
 */
export class EnvelopeWriter {
  readonly #clock: Clock
  readonly #deadlineMs: number
  readonly #commits: GroupCommit<Job, SubmitResult[]>

  constructor(props: {
    db: Db
    clock: Clock
    /** Undelivered envelopes fail after this long. */
    deadlineMs: number
    /** Told how many new envelopes each commit stored (metrics). */
    onCommitted?: (envelopes: number) => void
  }) {
    this.#clock = props.clock
    this.#deadlineMs = props.deadlineMs
    const onCommitted = props.onCommitted ?? (() => {})
    this.#commits = new GroupCommit({
      concurrency: 2,
      maxWeight: MAX_BATCH_ENVELOPES,
      weight: (job) => job.envelopes.length,
      write: async (jobs) => {
        const results = await this.#writeBatch(props.db, jobs)
        onCommitted(results.flat().filter((result) => result.ok && !result.duplicate).length)
        return results
      },
    })
  }

  /** Resolves with one result per envelope, in order, after the durable write. */
  submit(sender: string, envelopes: Envelope[]): Promise<SubmitResult[]> {
    return this.#commits.submit({ sender, envelopes })
  }

  /** Waits for what is being written and what is waiting. */
  drain(): Promise<void> {
    return this.#commits.drain()
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
