import { newId, type StatusEvent } from '@ochat/shared-protocol'
import { and, eq, gt, inArray, ne, sql } from 'drizzle-orm'
import { type Executor, rows } from '../db/client.ts'
import { queue } from '../db/schema.ts'

/**
 * The durable delivery queue (PROTOCOL.md §6 and §7). One row per item to deliver to an
 * instance: an envelope with its ciphertext, a receipt, or a status event, stored as the exact
 * DeliveryItem JSON that goes on the wire.
 */

export type QueueInsert = typeof queue.$inferInsert
export type ClaimedItem = {
  qid: number
  itemId: string
  kind: string
  body: string
  attempts: number
  deadlineAt: number
  connectionId: string | null
}

export const WAKE_CHANNEL = 'ochat_wake'

/**
 * One statement however many rows: the rows travel as one JSON parameter. On the hot path this is
 * several times cheaper than building a parameter per column per row.
 */
export async function insertQueueItems(executor: Executor, items: QueueInsert[]): Promise<void> {
  if (items.length === 0) return
  const rowsJson = JSON.stringify(
    items.map((item) => ({
      destination: item.destination,
      item_id: item.itemId,
      kind: item.kind,
      connection_id: item.connectionId ?? null,
      body: item.body,
      created_at: item.createdAt,
      deadline_at: item.deadlineAt,
      next_attempt_at: item.nextAttemptAt,
    })),
  )
  await executor.execute(
    sql`insert into queue (destination, item_id, kind, connection_id, body, created_at, deadline_at, next_attempt_at)
        select destination, item_id, kind, connection_id, body, created_at, deadline_at, next_attempt_at
        from rows from (jsonb_to_recordset(${rowsJson}::jsonb) as (destination text, item_id uuid, kind text,
          connection_id uuid, body text, created_at bigint, deadline_at bigint, next_attempt_at bigint))
          with ordinality as x(destination, item_id, kind, connection_id, body, created_at, deadline_at, next_attempt_at, n)
        order by n
        on conflict do nothing`,
  )
}

/**
 * Makes items this replica claimed due again at once, by qid, unless another replica has claimed them
 * since (it took the node's socket over): the socket they were meant for is gone.
 */
export async function releaseClaims(
  executor: Executor,
  props: { qids: number[]; replicaId: string },
): Promise<void> {
  if (props.qids.length === 0) return
  await executor.execute(
    sql`update queue set claimed_by = null, claimed_until = null
        where qid = any(array(select value::bigint from jsonb_array_elements_text(${JSON.stringify(props.qids)}::jsonb)))
          and claimed_by = ${props.replicaId}`,
  )
}

/** A status event for a sender (PROTOCOL.md §5.2), ready to queue. */
export function statusItem(props: {
  destination: string
  event: StatusEvent
  nowMs: number
  deadlineMs: number
}): QueueInsert {
  const itemId = newId(props.nowMs)
  return {
    destination: props.destination,
    itemId,
    kind: 'status',
    connectionId: null,
    body: JSON.stringify({ type: 'status', id: itemId, event: props.event }),
    createdAt: props.nowMs,
    deadlineAt: props.nowMs + props.deadlineMs,
    nextAttemptAt: props.nowMs,
  }
}

/**
 * Claims due items for several destinations at once, up to each one's `room`, oldest first, skipping
 * rows another transaction holds (FOR UPDATE SKIP LOCKED). A claim hides the row for `visibilityMs`: if
 * this replica dies, another one delivers it after that. Returns the items by destination, in order.
 */
export async function claimDue(
  executor: Executor,
  props: {
    rooms: { destination: string; room: number }[]
    replicaId: string
    nowMs: number
    visibilityMs: number
  },
): Promise<Map<string, ClaimedItem[]>> {
  const byDestination = new Map<string, ClaimedItem[]>()
  const rooms = props.rooms.filter((entry) => entry.room > 0)
  if (rooms.length === 0) return byDestination
  const claimed = await rows<{
    qid: string | number
    destination: string
    item_id: string
    kind: string
    body: string
    attempts: number
    deadline_at: string | number
    connection_id: string | null
  }>(
    executor,
    sql`update queue q set claimed_by = ${props.replicaId}, claimed_until = ${props.nowMs + props.visibilityMs},
          attempts = q.attempts + 1
        where q.qid in (
          select c.qid from jsonb_to_recordset(${JSON.stringify(rooms)}::jsonb) as r(destination text, room int)
          cross join lateral (
            select qid from queue
            where destination = r.destination and next_attempt_at <= ${props.nowMs}
              and (claimed_until is null or claimed_until < ${props.nowMs})
            order by qid limit r.room
            for update skip locked) c)
        returning q.qid, q.destination, q.item_id, q.kind, q.body, q.attempts, q.deadline_at, q.connection_id`,
  )
  for (const row of claimed) {
    const list = byDestination.get(row.destination) ?? []
    list.push({
      qid: Number(row.qid),
      itemId: row.item_id,
      kind: row.kind,
      body: row.body,
      attempts: row.attempts,
      deadlineAt: Number(row.deadline_at),
      connectionId: row.connection_id,
    })
    byDestination.set(row.destination, list)
  }
  for (const list of byDestination.values()) list.sort((a, b) => a.qid - b.qid)
  return byDestination
}

/** Claims up to `limit` due items of one destination (see claimDue). */
export async function claimItems(
  executor: Executor,
  props: { destination: string; replicaId: string; limit: number; nowMs: number; visibilityMs: number },
): Promise<ClaimedItem[]> {
  const claimed = await claimDue(executor, {
    ...props,
    rooms: [{ destination: props.destination, room: props.limit }],
  })
  return claimed.get(props.destination) ?? []
}

/** Deletes items of several destinations at once, each by (destination, item id). */
export async function deleteItemsOf(
  executor: Executor,
  items: { destination: string; itemId: string }[],
): Promise<void> {
  if (items.length === 0) return
  // Each pair is looked up in its own subquery, which PostgreSQL cannot turn into a join: the unique
  // index answers it even when the statistics say the queue is small (see idArray).
  await executor.execute(
    sql`delete from queue where qid = any(array(
          select unnest(array(select q.qid from queue q where q.destination = x.destination and q.item_id = x."itemId"))
          from jsonb_to_recordset(${JSON.stringify(items)}::jsonb) as x(destination text, "itemId" uuid)))`,
  )
}

/** Makes claimed items due again at `nextAttemptAt` (now, or later after a failure). */
export async function releaseItems(
  executor: Executor,
  props: { destination: string; itemIds: string[]; nextAttemptAt: number; lastError?: string },
): Promise<void> {
  if (props.itemIds.length === 0) return
  await executor
    .update(queue)
    .set({
      claimedBy: null,
      claimedUntil: null,
      nextAttemptAt: props.nextAttemptAt,
      ...(props.lastError ? { lastError: props.lastError } : {}),
    })
    .where(and(eq(queue.destination, props.destination), inArray(queue.itemId, props.itemIds)))
}

/** A node connected to this replica: what other replicas had claimed for it is due again at once. */
export async function takeOverClaims(
  executor: Executor,
  props: { destination: string; replicaId: string; nowMs: number },
): Promise<void> {
  // Claims held by other replicas (or left by a crashed one) are released...
  await executor
    .update(queue)
    .set({ claimedBy: null, claimedUntil: null })
    .where(and(eq(queue.destination, props.destination), ne(queue.claimedBy, props.replicaId)))
  // ...and items waiting out a failed webhook are due now: the node is here.
  await executor
    .update(queue)
    .set({ nextAttemptAt: props.nowMs })
    .where(and(eq(queue.destination, props.destination), gt(queue.nextAttemptAt, props.nowMs)))
}

/** Releases everything this replica claimed for a destination (its socket closed). */
export async function releaseClaimsOf(
  executor: Executor,
  props: { destination: string; replicaId: string },
): Promise<void> {
  await executor
    .update(queue)
    .set({ claimedBy: null, claimedUntil: null })
    .where(and(eq(queue.destination, props.destination), eq(queue.claimedBy, props.replicaId)))
}

/**
 * Wake-up payloads: instance ids joined by commas, at most 200 per payload (PostgreSQL payloads stop at
 * 8,000 bytes). Also sent by ochat_submit_envelopes (drizzle/0001_submit_envelopes.sql).
 */
export function wakePayloads(instanceIds: Iterable<string>): string[] {
  const unique = [...new Set(instanceIds)]
  const payloads: string[] = []
  for (let start = 0; start < unique.length; start += 200)
    payloads.push(unique.slice(start, start + 200).join(','))
  return payloads
}

/** Wakes whoever holds each instance's socket or webhook; sent at commit. */
export async function wake(executor: Executor, instanceIds: Iterable<string>): Promise<void> {
  const payloads = wakePayloads(instanceIds)
  if (payloads.length === 0) return
  await executor.execute(
    sql`select pg_notify(${WAKE_CHANNEL}, payload) from json_array_elements_text(${JSON.stringify(payloads)}::json) as w(payload)`,
  )
}

/**
 * Tells each sender, through its queue, that these envelopes failed and why (PROTOCOL.md §5.2), and
 * wakes the senders. Every path that fails an envelope (revoke, refusal, 4xx, deadline) ends here.
 */
export async function reportFailures(
  executor: Executor,
  props: {
    failures: { id: string; sender: string; recipient: string; reason: string }[]
    nowMs: number
    deadlineMs: number
  },
): Promise<void> {
  const statuses = props.failures.map((failure) =>
    statusItem({
      destination: failure.sender,
      event: {
        v: 1,
        status: 'failed',
        envelopeId: failure.id,
        to: failure.recipient,
        reason: failure.reason,
        at: props.nowMs,
      },
      nowMs: props.nowMs,
      deadlineMs: props.deadlineMs,
    }),
  )
  await insertQueueItems(executor, statuses)
  await wake(
    executor,
    statuses.map((status) => status.destination),
  )
}
