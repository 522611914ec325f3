import { retryDelayMs } from '@ochat/shared-protocol'
import { eq, sql } from 'drizzle-orm'
import { type Db, rows } from '../db/client.ts'
import { destinations, instances } from '../db/schema.ts'
import { findEnvelopes, markFailed } from '../envelopes/repository.ts'
import type { InstanceRow } from '../instances/repository.ts'
import { hasLiveLease, lockDestination } from './lease-repository.ts'
import {
  type ClaimedItem,
  deleteItemsOf,
  insertQueueItems,
  releaseItems,
  reportFailures,
  statusItem,
  wake,
} from './queue-repository.ts'

/** What happens after a failed delivery: the breaker, Retrying and Failed statuses, the deadline. */

export async function recordSuccess(db: Db, props: { instanceId: string; nowMs: number }): Promise<void> {
  await db
    .insert(destinations)
    .values({ instanceId: props.instanceId, consecutiveFailures: 0, updatedAt: props.nowMs })
    .onConflictDoUpdate({
      target: destinations.instanceId,
      set: { consecutiveFailures: 0, openUntil: null, lastError: null, updatedAt: props.nowMs },
    })
}

export type RecordFailureProps = {
  db: Db
  instance: InstanceRow
  items: ClaimedItem[]
  /** With its prefix, e.g. "error: the recipient's webhook answered 503". */
  reason: string
  /** From the node's Retry-After: the next attempt is not before. */
  retryAfterMs: number | undefined
  /** 410: the webhook URL is dropped until the node registers a new one. */
  gone: boolean
  nowMs: number
  deadlineMs: number
  /** Factor on the retry schedule's delays (WebhookSettings). */
  retryScale: number
}

/**
 * One breaker per destination: each failure moves the whole destination's next attempt along
 * the retry schedule, so a dead node costs one attempt per step, not one per envelope. Each sender learns
 * that its envelopes are Retrying, when the next attempt is, and why.
 */
export async function recordFailure(props: RecordFailureProps): Promise<void> {
  const { db, instance, items, nowMs } = props
  await db.transaction(async (tx) => {
    // The destination's row is locked first: a socket connect takes the same lock (resetBreaker) before
    // it makes the node's queue due, so one of the two always sees the other.
    await lockDestination(tx, instance.id, nowMs)
    if (await hasLiveLease(tx, instance.id, nowMs)) {
      // The node connected while this POST was failing: its socket takes the items now, not at the
      // next webhook attempt. The failure says nothing about a node that is here.
      await releaseItems(tx, {
        destination: instance.id,
        itemIds: items.map((item) => item.itemId),
        nextAttemptAt: nowMs,
      })
      await wake(tx, [instance.id])
      return
    }
    const [breaker] = await tx
      .insert(destinations)
      .values({ instanceId: instance.id, consecutiveFailures: 1, lastError: props.reason, updatedAt: nowMs })
      .onConflictDoUpdate({
        target: destinations.instanceId,
        set: {
          consecutiveFailures: sql`${destinations.consecutiveFailures} + 1`,
          lastError: props.reason,
          updatedAt: nowMs,
        },
      })
      .returning({ failures: destinations.consecutiveFailures })
    const failures = breaker?.failures ?? 1
    const nextAttemptAt =
      nowMs + Math.max(retryDelayMs(failures, Math.random, props.retryScale), props.retryAfterMs ?? 0)
    await tx
      .update(destinations)
      .set({ openUntil: nextAttemptAt })
      .where(eq(destinations.instanceId, instance.id))
    if (props.gone) await tx.update(instances).set({ webhookUrl: null }).where(eq(instances.id, instance.id))
    await releaseItems(tx, {
      destination: instance.id,
      itemIds: items.map((item) => item.itemId),
      nextAttemptAt,
      lastError: props.reason,
    })

    const envelopeItems = items.filter((item) => item.kind === 'envelope')
    const envelopes = await findEnvelopes(
      tx,
      envelopeItems.map((item) => item.itemId),
    )
    const attempts = new Map(items.map((item) => [item.itemId, item.attempts]))
    const statuses = envelopes.map((envelope) =>
      statusItem({
        destination: envelope.sender,
        event: {
          v: 1,
          status: 'retrying',
          envelopeId: envelope.id,
          to: envelope.recipient,
          attempt: attempts.get(envelope.id) ?? 1,
          nextAttemptAt,
          reason: props.reason,
          at: nowMs,
        },
        nowMs,
        deadlineMs: props.deadlineMs,
      }),
    )
    await insertQueueItems(tx, statuses)
    await wake(
      tx,
      statuses.map((status) => status.destination),
    )
  })
}

/** The node refused the delivery for good (a 4xx): its envelopes fail now and their senders are told why. */
export async function settleFailedDelivery(
  db: Db,
  props: {
    destination: string
    items: ClaimedItem[]
    reason: string
    nowMs: number
    deadlineMs: number
    retryScale: number
  },
): Promise<void> {
  await db.transaction(async (tx) => {
    const envelopeIds = props.items.filter((item) => item.kind === 'envelope').map((item) => item.itemId)
    const failed = await markFailed(tx, { ids: envelopeIds, nowMs: props.nowMs, reason: props.reason })
    await deleteItemsOf(
      tx,
      envelopeIds.map((itemId) => ({ destination: props.destination, itemId })),
    )
    // Receipts and statuses for this node are not the refused envelopes' fault: they wait and go again.
    await releaseItems(tx, {
      destination: props.destination,
      itemIds: props.items.filter((item) => item.kind !== 'envelope').map((item) => item.itemId),
      nextAttemptAt: props.nowMs + retryDelayMs(2, Math.random, props.retryScale),
      lastError: props.reason,
    })
    await reportFailures(tx, {
      failures: failed.map((envelope) => ({ ...envelope, reason: props.reason })),
      nowMs: props.nowMs,
      deadlineMs: props.deadlineMs,
    })
  })
}

/**
 * Past its deadline (72 h by default) an envelope is Failed with the last error, and its ciphertext is
 * deleted; receipts and statuses nobody fetched are dropped. Runs from every replica; claims keep them
 * from handling the same rows.
 */
export async function sweepExpired(
  db: Db,
  props: { nowMs: number; deadlineMs: number; deadlineHours: number },
): Promise<number> {
  return db.transaction(async (tx) => {
    // At most 1,000 rows a sweep, skipping rows other replicas hold: the next sweep takes the rest.
    // Ordered by deadline so the plan walks the queue_deadline index from its start and stops at once
    // when nothing is due. Without the order, statistics that lag behind the queue (autovacuum off or
    // behind) let PostgreSQL guess a third of the rows are due and scan the whole queue, bodies
    // included, on every sweep, holding up everything else.
    const expired = await rows<{ itemId: string; kind: string; lastError: string | null }>(
      tx,
      sql`delete from queue where qid in (
            select qid from queue
            where deadline_at < ${props.nowMs} and (claimed_until is null or claimed_until < ${props.nowMs})
            order by deadline_at
            limit 1000 for update skip locked)
          returning item_id as "itemId", kind, last_error as "lastError"`,
    )
    const envelopes = expired.filter((item) => item.kind === 'envelope')
    const lastErrors = new Map(envelopes.map((item) => [item.itemId, item.lastError]))
    const failures = []
    for (const envelope of await findEnvelopes(
      tx,
      envelopes.map((item) => item.itemId),
    )) {
      const last = lastErrors.get(envelope.id)
      const reason =
        `error: not delivered within ${props.deadlineHours} h${last ? `; last error: ${last.replace(/^\w[\w-]*: /, '')}` : '; the recipient never connected'}`.slice(
          0,
          500,
        )
      const [failed] = await markFailed(tx, { ids: [envelope.id], nowMs: props.nowMs, reason })
      if (failed) failures.push({ ...failed, reason })
    }
    await reportFailures(tx, { failures, nowMs: props.nowMs, deadlineMs: props.deadlineMs })
    return expired.length
  })
}
