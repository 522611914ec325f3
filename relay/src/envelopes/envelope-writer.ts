import { type Envelope, reason, type SubmitResult } from '@ochat/shared-protocol'
import type { Clock } from '@ochat/shared-protocol/server'
import { sql } from 'drizzle-orm'
import { type Db, rows } from '../db/client.ts'
import { GroupCommit } from '../db/group-commit.ts'
import { type HandOffTarget, handOver, reservePlaces } from '../delivery/ack-writer.ts'
import { type ClaimedItem, wakePayloads } from '../delivery/queue-repository.ts'

/** `lines` holds each envelope's JSON, made as it is submitted: off the path of the batch before. */
type Job = { sender: string; envelopes: Envelope[]; lines: string[] }
type Entry = { job: Job; jobIndex: number; index: number; envelope: Envelope; sender: string; line: string }

/** Largest batch written in one transaction, in envelopes. */
const MAX_BATCH_ENVELOPES = 5000

/**
 * Envelope submits, group-committed (db/group-commit.ts): each is answered only after the durable write.
 * One batch is in flight: what arrives while it commits waits and goes in the next, so batches grow with
 * load. Two in flight gained nothing: every batch locks the rows of the connections it numbers, which
 * under load are mostly the same ones, so the second waited for the first's commit anyway, and both
 * were smaller. Order per connection stays best effort, and sequence numbers follow commit
 * order.
 *
 * When a recipient's socket is on this replica and has room in its window for all of its envelopes of
 * the batch, those places are reserved before the write, the envelopes are inserted already claimed for
 * that socket, and the socket gets them as soon as the batch commits: no wake-up and no separate claim
 * (as ack-writer.ts does for receipts). They stay queued until the recipient acks them; if its socket
 * goes first, they are released for the next one.
 */
export class EnvelopeWriter {
  readonly #clock: Clock
  readonly #deadlineMs: number
  readonly #replicaId: string
  readonly #visibilityMs: number
  readonly #handOffTo: (instanceId: string) => HandOffTarget | undefined
  readonly #commits: GroupCommit<Job, SubmitResult[]>

  constructor(props: {
    db: Db
    clock: Clock
    /** Undelivered envelopes fail after this long. */
    deadlineMs: number
    /** Told how many new envelopes each commit stored (metrics). */
    onCommitted?: (envelopes: number) => void
    /** Names this replica in claims. */
    replicaId: string
    /** How long a claim hides an item (the socket claim visibility). */
    visibilityMs: number
    /** The socket of an instance on this replica, if any (none: every envelope goes through the queue). */
    handOffTo?: (instanceId: string) => HandOffTarget | undefined
  }) {
    this.#clock = props.clock
    this.#deadlineMs = props.deadlineMs
    this.#replicaId = props.replicaId
    this.#visibilityMs = props.visibilityMs
    this.#handOffTo = props.handOffTo ?? (() => undefined)
    const onCommitted = props.onCommitted ?? (() => {})
    this.#commits = new GroupCommit({
      concurrency: 1,
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
    // Serialised here, while the batch before is being written, not when this one's turn comes.
    const lines = envelopes.map((envelope) => JSON.stringify(envelope))
    return this.#commits.submit({ sender, envelopes, lines })
  }

  /** Waits for what is being written and what is waiting. */
  drain(): Promise<void> {
    return this.#commits.drain()
  }

  async #writeBatch(db: Db, batch: Job[]): Promise<SubmitResult[][]> {
    const nowMs = this.#clock.now()
    const results: SubmitResult[][] = batch.map((job) => new Array<SubmitResult>(job.envelopes.length))
    const entries: Entry[] = batch.flatMap((job, jobIndex) =>
      job.envelopes.map((envelope, index) => ({
        job,
        jobIndex,
        index,
        envelope,
        sender: job.sender,
        line: job.lines[index] ?? JSON.stringify(envelope),
      })),
    )
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

    // Recipients whose socket is here with room for all their envelopes of the batch get them directly.
    const counts = new Map<string, number>()
    for (const entry of fresh) {
      const to = entry.envelope.header.to
      counts.set(to, (counts.get(to) ?? 0) + 1)
    }
    const reserved = reservePlaces(counts, this.#handOffTo)
    try {
      return await this.#write(db, { nowMs, fresh, repeats, results, answer, taken, reserved })
    } finally {
      for (const [, { target, count }] of reserved) target.unreserve(count)
    }
  }

  async #write(
    db: Db,
    props: {
      nowMs: number
      fresh: Entry[]
      repeats: { entry: Entry; first: Entry }[]
      results: SubmitResult[][]
      answer: (entry: Entry, result: SubmitResult) => void
      taken: (id: string) => SubmitResult
      reserved: Map<string, { target: HandOffTarget; count: number }>
    },
  ): Promise<SubmitResult[][]> {
    const { nowMs, fresh, repeats, results, answer, taken, reserved } = props
    // One statement writes the batch: repeats of stored ids, the connection check, sequence numbers,
    // envelope rows, queue items (claimed for the direct recipients), blob grants and the wake-up of the
    // others (drizzle/0004_submit_direct.sql).
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
    const lines = fresh.map((entry) => entry.line)
    const wakes = JSON.stringify(
      wakePayloads(fresh.map((entry) => entry.envelope.header.to).filter((to) => !reserved.has(to))),
    )
    const deadlineAt = nowMs + this.#deadlineMs
    const outcomes = await rows<{
      i: number
      outcome: 'stored' | 'prior' | 'unconnected'
      seq: string | number | null
      prior_sender: string | null
      accepted_at: string | number | null
      o_qid: string | number | null
      o_connection_id: string | null
    }>(
      db,
      sql`select * from ochat_submit_envelopes(${batchJson}::json, ${lines.join('\n')}::text, ${wakes}::json,
            ${JSON.stringify([...reserved.keys()])}::json, ${this.#replicaId}::text,
            ${nowMs + this.#visibilityMs}::bigint, ${nowMs}::bigint, ${deadlineAt}::bigint)`,
    )
    // Committed: what was inserted claimed, by recipient, to hand over below.
    const claimed = new Map<string, ClaimedItem[]>()
    for (const row of outcomes) {
      const entry = fresh[row.i]
      if (!entry) continue
      const { id, to } = entry.envelope.header
      if (row.outcome === 'stored' && row.o_qid !== null && row.o_connection_id !== null) {
        // The body the function stored, built the same way (0004), without sending the ciphertext back.
        const list = claimed.get(to) ?? []
        list.push({
          qid: Number(row.o_qid),
          itemId: id,
          kind: 'envelope',
          body: `{"type":"envelope","id":"${id}","connectionId":"${row.o_connection_id}","seq":${Number(row.seq)},"receivedAt":${nowMs},"envelope":${lines[row.i]}}`,
          attempts: 1,
          deadlineAt,
          connectionId: row.o_connection_id,
        })
        claimed.set(to, list)
      }
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
    if (claimed.size > 0) {
      for (const list of claimed.values()) list.sort((a, b) => a.qid - b.qid)
      // A failure from here on must not fail the committed batch: claims not released run out after
      // `visibilityMs` and the items go again.
      await handOver(db, { reserved, claimed, replicaId: this.#replicaId }).catch(() => {})
    }
    return results
  }
}
