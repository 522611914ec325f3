import {
  type Envelope,
  fromBase64Url,
  LIMITS,
  type MessagePayload,
  RETRY_SCHEDULE,
  retryDelayMs,
  type SubmitResult,
  sealEnvelope,
} from '@ochat/shared-protocol'
import type { Clock } from '@ochat/shared-protocol/server'
import { and, asc, eq, gt, inArray, isNotNull, isNull, lte, or, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { inList, once } from '../../db/raw.ts'
import { ochatChannels, ochatConnections, ochatMessages } from '../../db/schema.ts'
import type { WriteQueue } from '../../db/write-queue.ts'
import type { Instance } from '../identity/instance.ts'
import type { Keystore } from '../identity/keystore.ts'
import { RelayAnswerError } from '../relay/http-client.ts'
import { relayWaitMs, retryAfterMsOf, type SubmitPacer } from './pacing.ts'
import { buildPayload, filesOf } from './payload.ts'
import { applyStatus, findMessage, type MessageRow, type StatusChange, updateMessage } from './status.ts'

/** Envelopes in one submit: the relay takes up to 1,000 (PROTOCOL.md §4.4). */
const BATCH = LIMITS.bulkRecipients
/**
 * Submits in flight at once: one. What becomes due while a submit is in flight goes in the next one,
 * so batches grow with load by themselves, and every step after (the relay's commit, the recipient's
 * transaction and receipt, the receipt's way back) is paid once per batch. With several in flight,
 * each message goes alone at moderate load and pays every step itself (docs/performance.md).
 */
const IN_FLIGHT = 1
/** A message whose connection is paused is looked at again after this long: 60 s. */
const PAUSED_RECHECK_MS = 60_000

export type SubmitTransport = (envelopes: Envelope[]) => Promise<SubmitResult[]>

type Changed = { row: MessageRow; channelId: number }

/**
 * Not an attempt: the message is due again at `dueAt` (a paused connection, a file still uploading,
 * the relay's buckets empty or its `rate-limited:` answer), its status and attempts unchanged.
 */
type Later = { dueAt: number }

/**
 * The node → relay half of delivery. Every outgoing message is written with `outbox_due_at`; this
 * sends the due ones in batches, sealed for the keys pinned on their connection, paced to the relay's
 * rate limits (pacing.ts), and records the relay's answer: Sent (stored durably, with its sequence
 * number), Retrying (the relay could not be reached or failed), or Failed (refused for good, or 72 h
 * without reaching the relay). A `rate-limited:` answer only makes the message due again when the
 * relay said: it is not an attempt, and the message keeps its status.
 * Nothing leaves inside a transaction; a restart loses nothing (the rows are the queue) and sends
 * nothing twice (the same envelope id is dropped by the relay and by the recipient).
 */
export class Outbox {
  readonly #db: Db
  readonly #writes: WriteQueue
  readonly #clock: Clock
  readonly #keystore: Keystore
  readonly #instance: Instance
  readonly #transport: () => SubmitTransport
  readonly #onChanged: (changes: Changed[]) => void
  readonly #pacer: SubmitPacer
  readonly #retryScale: number
  readonly #inFlight = new Set<number>()
  #running = 0
  #scheduled = false
  #timer: NodeJS.Timeout | undefined
  #stopped = false
  /** Counts the times the relay came back: a submit that fails across one is due again at once. */
  #relayBacks = 0
  readonly #batches = new Set<Promise<void>>()

  constructor(props: {
    db: Db
    writes: WriteQueue
    clock: Clock
    keystore: Keystore
    instance: Instance
    /** How to submit now: over the socket when it is up, else a signed HTTP request. */
    transport: () => SubmitTransport
    /** Called after each commit with the messages whose status changed. */
    onChanged: (changes: Changed[]) => void
    /** The relay's token buckets, mirrored: kept by the runtime across transport restarts. */
    pacer: SubmitPacer
    /** Factor on the retry schedule's delays (OchatSettings.ochatRetryScale). */
    retryScale: number
  }) {
    this.#db = props.db
    this.#writes = props.writes
    this.#clock = props.clock
    this.#keystore = props.keystore
    this.#instance = props.instance
    this.#transport = props.transport
    this.#onChanged = props.onChanged
    this.#pacer = props.pacer
    this.#retryScale = props.retryScale
  }

  /**
   * Looks for due messages once the current callback and its promise continuations are done: the
   * messages of every write committed together go in one batch, in this turn of the event loop, not
   * after the next round of I/O (setImmediate would wait behind every request read meanwhile).
   */
  kick(): void {
    if (this.#stopped || this.#scheduled) return
    this.#scheduled = true
    process.nextTick(() => {
      this.#scheduled = false
      this.#pump()
    })
  }

  /**
   * The relay is reachable again (the socket authenticated): messages Retrying on their own schedule
   * are due now, as the relay drains its queue when a node connects; the
   * pacing lets them out at the rate the relay takes, not all at once. So
   * are messages already Delivered or Read whose submit answer was lost (status.ts, answerStillDue):
   * their resubmit, which only brings their sequence number, may have failed while the relay was away.
   */
  retryNow(): void {
    if (this.#stopped) return
    this.#relayBacks++
    const now = this.#clock.now()
    void this.#writes
      .run((tx) =>
        tx
          .update(ochatMessages)
          .set({ outboxDueAt: now })
          .where(
            and(
              gt(ochatMessages.outboxDueAt, now),
              or(
                eq(ochatMessages.status, 'retrying'),
                and(isNull(ochatMessages.seq), inArray(ochatMessages.status, ['delivered', 'read'])),
              ),
            ),
          )
          .run(),
      )
      // Failing here only leaves them on their own schedule: nothing is lost.
      .catch(() => undefined)
      .finally(() => this.kick())
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    await Promise.allSettled([...this.#batches])
  }

  #pump(): void {
    while (!this.#stopped && this.#running < IN_FLIGHT) {
      const rows = this.#due()
      if (rows.length === 0) break
      for (const row of rows) this.#inFlight.add(row.id)
      this.#running++
      const batch = this.#send(rows).finally(() => {
        for (const row of rows) this.#inFlight.delete(row.id)
        this.#running--
        this.#batches.delete(batch)
        this.kick()
      })
      this.#batches.add(batch)
    }
    this.#armTimer()
  }

  /**
   * The next due messages not already in a submit. Ids come first, from the outbox index alone, so
   * the rows in flight are not read again at every look; then the rows of those picked.
   */
  #due(): MessageRow[] {
    const dueIds = once(this.#db, 'ochat.outbox.dueIds', () =>
      this.#db
        .select({ id: ochatMessages.id })
        .from(ochatMessages)
        .where(
          and(
            isNotNull(ochatMessages.outboxDueAt),
            lte(ochatMessages.outboxDueAt, sql`${sql.placeholder('now')}`),
          ),
        )
        .orderBy(asc(ochatMessages.outboxDueAt), asc(ochatMessages.id))
        .limit(sql.placeholder('limit'))
        .prepare(),
    )
    const ids = dueIds
      .all({ now: this.#clock.now(), limit: BATCH + this.#inFlight.size })
      .map((row) => row.id)
      .filter((id) => !this.#inFlight.has(id))
      .slice(0, BATCH)
    if (ids.length === 0) return []
    const rowsOf = once(this.#db, 'ochat.outbox.rows', () =>
      this.#db
        .select()
        .from(ochatMessages)
        .where(inList(ochatMessages.id, 'ids'))
        .orderBy(asc(ochatMessages.outboxDueAt), asc(ochatMessages.id))
        .prepare(),
    )
    return rowsOf.all({ ids: JSON.stringify(ids) })
  }

  /**
   * Wakes up when the earliest message not already in a submit is due. Messages in a submit are left
   * out (their submit's end looks again), and so is everything while every submit slot is taken: a
   * timer for what is due already would only spin until a slot frees.
   */
  #armTimer(): void {
    clearTimeout(this.#timer)
    if (this.#stopped || this.#running >= IN_FLIGHT) return
    const query = once(this.#db, 'ochat.outbox.next', () =>
      this.#db
        .select({ id: ochatMessages.id, at: ochatMessages.outboxDueAt })
        .from(ochatMessages)
        .where(isNotNull(ochatMessages.outboxDueAt))
        .orderBy(asc(ochatMessages.outboxDueAt), asc(ochatMessages.id))
        .limit(sql.placeholder('limit'))
        .prepare(),
    )
    const next = query.all({ limit: this.#inFlight.size + 1 }).find((row) => !this.#inFlight.has(row.id))
    if (next?.at == null) return
    const delay = Math.max(0, Math.min(next.at - this.#clock.now(), 2 ** 31 - 1))
    this.#timer = setTimeout(() => this.kick(), delay)
    this.#timer.unref()
  }

  async #send(rows: MessageRow[]): Promise<void> {
    const now = this.#clock.now()
    const relayBacks = this.#relayBacks
    const connections = this.#connectionsOf(rows.map((row) => row.channelId))
    const files = filesOf(
      this.#db,
      rows.map((row) => row.id),
    )
    const candidates: { row: MessageRow; peer: string; encryptionKey: string; payload: MessagePayload }[] = []
    const settled: { row: MessageRow; change: StatusChange | Later }[] = []
    for (const row of rows) {
      const connection = connections.get(row.channelId)
      if (now >= deadlineOf(row)) {
        settled.push({
          row,
          change: {
            status: 'failed',
            at: now,
            reason: row.statusReason ?? 'error: the relay could not be reached for 72 hours',
          },
        })
      } else if (!connection || (connection.state !== 'accepted' && connection.state !== 'pending')) {
        settled.push({
          row,
          change: {
            status: 'failed',
            at: now,
            reason: `blocked: the connection is ${connection?.state ?? 'gone'}`,
          },
        })
      } else if (connection.state !== 'accepted' || connection.keyChangedAt !== null) {
        settled.push({ row, change: { dueAt: now + PAUSED_RECHECK_MS } })
      } else {
        const payload = buildPayload(this.#db, {
          row,
          files: files.get(row.id) ?? [],
          keystore: this.#keystore,
          company: this.#instance.name,
        })
        // A file still uploading: its upload makes the message due again when it is done.
        if (!payload) settled.push({ row, change: { dueAt: now + PAUSED_RECHECK_MS } })
        else
          candidates.push({
            row,
            peer: connection.peerInstanceId,
            encryptionKey: connection.pinnedKeys.encryptionKey,
            payload,
          })
      }
    }
    // Only what the relay's buckets take now is sealed and submitted; the rest is due when they refill.
    const slots = this.#pacer.plan(candidates.map((candidate) => candidate.peer))
    const ready: { row: MessageRow; peer: string; envelope: Envelope }[] = []
    for (const [index, candidate] of candidates.entries()) {
      const slot = slots[index]
      if (slot && !slot.ok) {
        settled.push({ row: candidate.row, change: { dueAt: now + slot.waitMs } })
        continue
      }
      ready.push({
        row: candidate.row,
        peer: candidate.peer,
        envelope: sealEnvelope({
          header: {
            id: candidate.row.envelopeId,
            from: this.#instance.instanceId,
            to: candidate.peer,
            createdAt: candidate.row.createdAt,
          },
          payload: candidate.payload,
          senderIdentitySecretKey: this.#instance.identity.secretKey,
          boxKeys: this.#instance.boxKeys,
          recipientEncryptionKey: fromBase64Url(candidate.encryptionKey) as Uint8Array,
        }),
      })
    }
    let results: SubmitResult[] | undefined
    let failure: Failure | undefined
    if (ready.length > 0) {
      try {
        results = await this.#transport()(ready.map((entry) => entry.envelope))
      } catch (error) {
        failure = describeFailure(error)
      }
    }
    const at = this.#clock.now()
    for (const [index, entry] of ready.entries()) {
      const result = results?.[index]
      if (result?.ok)
        settled.push({ row: entry.row, change: { status: 'sent', at: result.acceptedAt, seq: result.seq } })
      else if (result?.reason.startsWith('rate-limited:')) {
        this.#pacer.limited(entry.peer)
        settled.push({ row: entry.row, change: { dueAt: at + retryAfterMsOf(result.reason) } })
      } else if (result) {
        settled.push({
          row: entry.row,
          change: result.reason.startsWith('error:')
            ? this.#retry(entry.row, at, relayBacks, result.reason)
            : { status: 'failed', at, reason: result.reason },
        })
      } else if (failure?.rateLimited) {
        this.#pacer.limited(entry.peer)
        settled.push({ row: entry.row, change: { dueAt: at + (failure.retryAfterMs ?? 1_000) } })
      } else if (failure?.permanent)
        settled.push({ row: entry.row, change: { status: 'failed', at, reason: failure.reason } })
      else
        settled.push({
          row: entry.row,
          change: this.#retry(
            entry.row,
            at,
            relayBacks,
            failure?.reason ?? 'error: no answer',
            failure?.retryAfterMs,
          ),
        })
    }
    if (settled.length === 0) return
    const changed = await this.#writes.run((tx) => {
      const out: Changed[] = []
      for (const { row, change } of settled) {
        const current = findMessage(tx, row.id)
        if (!current) continue
        if ('dueAt' in change) {
          // Never past the deadline, however long the wait: the message is due then, and fails.
          const dueAt = Math.min(change.dueAt, deadlineOf(row))
          // A Retrying message shows when it goes next: that is now the pacing's time.
          updateMessage(
            tx,
            row.id,
            current.status === 'retrying'
              ? { outboxDueAt: dueAt, nextAttemptAt: dueAt }
              : { outboxDueAt: dueAt },
          )
          continue
        }
        const attempts =
          change.status === 'retrying'
            ? { outboxAttempts: current.outboxAttempts + 1, outboxDueAt: change.nextAttemptAt ?? null }
            : {}
        const updated = applyStatus(tx, current, change)
        if (Object.keys(attempts).length > 0) updateMessage(tx, row.id, attempts)
        else if (!updated) updateMessage(tx, row.id, { outboxDueAt: null })
        if (updated) out.push({ row: { ...updated, ...attempts }, channelId: row.channelId })
      }
      return out
    })
    if (changed.length > 0) this.#onChanged(changed)
  }

  /**
   * The next attempt of a failed submit. When the relay came back while this one was on its way
   * (relayBacks no longer the count at its start), retryNow could not move it, as it was in flight:
   * it is due now instead of at its scheduled time.
   */
  #retry(
    row: MessageRow,
    at: number,
    relayBacks: number,
    reason: string,
    retryAfterMs?: number,
  ): StatusChange {
    if (relayBacks !== this.#relayBacks) return { status: 'retrying', at, reason, nextAttemptAt: at }
    const delay = Math.max(
      retryDelayMs(row.outboxAttempts + 1, Math.random, this.#retryScale),
      retryAfterMs ?? 0,
    )
    // The last attempt is at the deadline, where the message fails if it has not gone.
    return { status: 'retrying', at, reason, nextAttemptAt: Math.min(at + delay, deadlineOf(row)) }
  }

  #connectionsOf(channelIds: number[]) {
    const query = once(this.#db, 'ochat.outbox.connections', () =>
      this.#db
        .select({ channelId: ochatChannels.id, connection: ochatConnections })
        .from(ochatChannels)
        .innerJoin(ochatConnections, eq(ochatConnections.id, ochatChannels.connectionId))
        .where(inList(ochatChannels.id, 'channelIds'))
        .prepare(),
    )
    const rows = query.all({ channelIds: JSON.stringify([...new Set(channelIds)]) })
    return new Map(rows.map((row) => [row.channelId, row.connection]))
  }
}

/**
 * When the message fails if it has not reached the relay: 72 h after it was written. A manual retry
 * of a Failed message starts a new window.
 */
export function deadlineOf(message: Pick<MessageRow, 'createdAt' | 'failedAt'>): number {
  return Math.max(message.createdAt, message.failedAt ?? 0) + RETRY_SCHEDULE.deadlineMs
}

type Failure = {
  reason: string
  retryAfterMs?: number
  permanent: boolean
  /** A 429: every envelope was over the relay's rate limit; they wait, with no attempt counted. */
  rateLimited: boolean
}

/** A submit that got no per-envelope answer: retry later, unless the relay refused us for good. */
function describeFailure(error: unknown): Failure {
  if (error instanceof RelayAnswerError) {
    const retryAfterMs = error.retryAfterS === undefined ? undefined : relayWaitMs(error.retryAfterS)
    // Auth failures and suspension may be fixed by an admin: keep retrying until the deadline.
    const permanent = error.status === 400 || error.status === 413
    return { reason: error.reason, retryAfterMs, permanent, rateLimited: error.status === 429 }
  }
  const message = (error as Error).message ?? String(error)
  return {
    reason: message.startsWith('error:') ? message : `error: ${message}`,
    permanent: false,
    rateLimited: false,
  }
}
