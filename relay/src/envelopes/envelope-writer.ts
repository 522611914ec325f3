import { type Envelope, reason, type SubmitResult } from '@ochat/shared-protocol'
import { sql } from 'drizzle-orm'
import type { Clock } from '../clock.ts'
import { type Db, rows, type Tx } from '../db/client.ts'
import { blobGrants } from '../db/schema.ts'
import { insertQueueItems, type QueueInsert, wake } from '../delivery/queue-repository.ts'
import { errorCode } from '../errors.ts'
import { findEnvelopes, insertEnvelopes } from './repository.ts'

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
        const results = await this.#db.transaction((tx) => this.#writeBatch(tx, batch))
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

  async #writeBatch(tx: Tx, batch: Job[]): Promise<SubmitResult[][]> {
    const nowMs = this.#clock.now()
    const results: SubmitResult[][] = batch.map((job) => new Array<SubmitResult>(job.envelopes.length))
    const entries = batch.flatMap((job, jobIndex) =>
      job.envelopes.map((envelope, index) => ({ job, jobIndex, index, envelope, sender: job.sender })),
    )

    const answer = (entry: (typeof entries)[number], result: SubmitResult) => {
      const list = results[entry.jobIndex]
      if (list) list[entry.index] = result
    }

    // 1. Repeats: an id already stored answers with its first result (a duplicate is a success), or is
    //    refused if another sender owns it. A repeat within this batch gets the answer of its first copy.
    const stored = new Map(
      (
        await findEnvelopes(
          tx,
          entries.map((entry) => entry.envelope.header.id),
        )
      ).map((row) => [row.id, row]),
    )
    const fresh: typeof entries = []
    const repeats: { entry: (typeof entries)[number]; first: (typeof entries)[number] }[] = []
    const firstInBatch = new Map<string, (typeof entries)[number]>()
    for (const entry of entries) {
      const id = entry.envelope.header.id
      const previous = stored.get(id)
      const first = firstInBatch.get(id)
      if (previous) {
        answer(
          entry,
          previous.sender === entry.sender
            ? { ok: true, id, seq: previous.seq, acceptedAt: previous.acceptedAt, duplicate: true }
            : {
                ok: false,
                id,
                code: 'E_ENVELOPE_ID_TAKEN',
                reason: reason('invalid', 'envelope id is already used; choose another'),
              },
        )
      } else if (first) {
        repeats.push({ entry, first })
      } else {
        firstInBatch.set(id, entry)
        fresh.push(entry)
      }
    }

    // 2. Sequence numbers, and the accepted-connection check, in one statement per round: the UPDATE
    //    locks each connection row, so a concurrent revoke either waits for this commit (and purges what
    //    it wrote) or commits first (and this finds no accepted connection).
    const allocated = await allocateSequences(
      tx,
      fresh.map((entry) => ({ sender: entry.sender, recipient: entry.envelope.header.to })),
    )

    const envelopeRows = []
    const queueRows: QueueInsert[] = []
    const grants = []
    for (const entry of fresh) {
      const { header } = entry.envelope
      const slot = allocated.get(`${entry.sender}\u0000${header.to}`)
      if (!slot) {
        answer(entry, {
          ok: false,
          id: header.id,
          code: 'E_CONNECTION_NOT_ACCEPTED',
          reason: reason('blocked', `no accepted connection with ${header.to}`),
        })
        continue
      }
      const seq = slot.next++
      const size = Math.floor((entry.envelope.ciphertext.length * 3) / 4)
      envelopeRows.push({
        id: header.id,
        sender: entry.sender,
        recipient: header.to,
        connectionId: slot.connectionId,
        seq,
        size,
        status: 'queued',
        acceptedAt: nowMs,
      })
      queueRows.push({
        destination: header.to,
        itemId: header.id,
        kind: 'envelope',
        connectionId: slot.connectionId,
        body: `{"type":"envelope","id":${JSON.stringify(header.id)},"connectionId":"${slot.connectionId}","seq":${seq},"receivedAt":${nowMs},"envelope":${JSON.stringify(entry.envelope)}}`,
        createdAt: nowMs,
        deadlineAt: nowMs + this.#deadlineMs,
        nextAttemptAt: nowMs,
      })
      for (const blobId of header.blobs ?? [])
        grants.push({ blobId, instanceId: header.to, envelopeId: header.id, grantedAt: nowMs })
      answer(entry, { ok: true, id: header.id, seq, acceptedAt: nowMs })
    }
    for (const { entry, first } of repeats) {
      const original = results[first.jobIndex]?.[first.index]
      answer(
        entry,
        original?.ok && first.sender === entry.sender
          ? { ...original, duplicate: true }
          : original && !original.ok && first.sender === entry.sender
            ? original
            : {
                ok: false,
                id: entry.envelope.header.id,
                code: 'E_ENVELOPE_ID_TAKEN',
                reason: reason('invalid', 'envelope id is already used; choose another'),
              },
      )
    }
    await insertEnvelopes(tx, envelopeRows)
    await insertQueueItems(tx, queueRows)
    if (grants.length > 0) await tx.insert(blobGrants).values(grants).onConflictDoNothing()
    await wake(
      tx,
      queueRows.map((row) => row.destination),
    )
    return results
  }
}

/**
 * A connection matches a (sender, recipient) pair whichever of the two requested it. Written with
 * least/greatest so PostgreSQL uses the unique index on the live pair: by requester alone, a bulk
 * sender's thousand connections would be scanned once per recipient.
 */
const SAME_PAIR = sql.raw(
  'least(c.requester, c.addressee) = least(v.sender, v.recipient) and greatest(c.requester, c.addressee) = greatest(v.sender, v.recipient)',
)

/**
 * Reserves sequence numbers on accepted connections for each (sender, recipient) pair, returning the
 * first number of each pair's range. Pairs of one connection in both directions go in separate rounds,
 * because an UPDATE … FROM applies only one joined row per target row.
 */
async function allocateSequences(tx: Tx, pairs: { sender: string; recipient: string }[]) {
  const counts = new Map<string, { sender: string; recipient: string; n: number }>()
  for (const pair of pairs) {
    const key = `${pair.sender}\u0000${pair.recipient}`
    const entry = counts.get(key) ?? { ...pair, n: 0 }
    entry.n++
    counts.set(key, entry)
  }
  const rounds: { sender: string; recipient: string; n: number }[][] = [[], []]
  for (const entry of counts.values()) {
    const reverse = counts.has(`${entry.recipient}\u0000${entry.sender}`)
    rounds[reverse && entry.sender > entry.recipient ? 1 : 0]?.push(entry)
  }
  const allocated = new Map<string, { connectionId: string; next: number }>()
  for (const round of rounds) {
    if (round.length === 0) continue
    const values = sql`(select * from jsonb_to_recordset(${JSON.stringify(round)}::jsonb) as x(sender text, recipient text, n int))`
    // Lock the rows in id order first, so two replicas' batches cannot deadlock on each other.
    await tx.execute(
      sql`select c.id from connections c join ${values} v
            on ${SAME_PAIR}
          where c.state = 'accepted' order by c.id for update of c`,
    )
    const updated = await rows<{
      id: string
      sender: string
      recipient: string
      last_seq: string | number
      n: number
    }>(
      tx,
      sql`update connections c set
            requester_seq = c.requester_seq + case when v.sender = c.requester then v.n else 0 end,
            addressee_seq = c.addressee_seq + case when v.sender = c.addressee then v.n else 0 end,
            updated_at = c.updated_at
          from ${values} v
          where c.state = 'accepted' and ${SAME_PAIR}
          returning c.id, v.sender, v.recipient, v.n,
            case when v.sender = c.requester then c.requester_seq else c.addressee_seq end as last_seq`,
    )
    for (const row of updated) {
      allocated.set(`${row.sender}\u0000${row.recipient}`, {
        connectionId: row.id,
        next: Number(row.last_seq) - row.n + 1,
      })
    }
  }
  return allocated
}
