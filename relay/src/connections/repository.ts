import { and, asc, desc, eq, gt, inArray, or, sql } from 'drizzle-orm'
import type { Executor } from '../db/client.ts'
import { connectionHistory, connections, instances, queue } from '../db/schema.ts'

export type ConnectionRow = typeof connections.$inferSelect
export type HistoryRow = typeof connectionHistory.$inferSelect

export async function insertConnection(
  executor: Executor,
  row: typeof connections.$inferInsert,
): Promise<void> {
  await executor.insert(connections).values(row)
}

export async function findConnection(executor: Executor, id: string): Promise<ConnectionRow | undefined> {
  const [row] = await executor.select().from(connections).where(eq(connections.id, id)).limit(1)
  return row
}

/** Removes a connection with its history and whatever is still queued on it. */
export async function deleteConnection(executor: Executor, id: string): Promise<void> {
  await executor.delete(queue).where(eq(queue.connectionId, id))
  await executor.delete(connectionHistory).where(eq(connectionHistory.connectionId, id))
  await executor.delete(connections).where(eq(connections.id, id))
}

/** Locks the row for a state change, so a revoke and a submit cannot interleave. */
export async function lockConnection(executor: Executor, id: string): Promise<ConnectionRow | undefined> {
  const [row] = await executor.select().from(connections).where(eq(connections.id, id)).for('update').limit(1)
  return row
}

export async function findLiveConnectionBetween(
  executor: Executor,
  a: string,
  b: string,
): Promise<ConnectionRow | undefined> {
  const [row] = await executor
    .select()
    .from(connections)
    .where(
      and(
        inArray(connections.state, ['pending', 'accepted']),
        or(
          and(eq(connections.requester, a), eq(connections.addressee, b)),
          and(eq(connections.requester, b), eq(connections.addressee, a)),
        ),
      ),
    )
    .limit(1)
  return row
}

/**
 * The requesters of the pending requests to `instanceId` that it has not decided yet, with the address
 * each registered from. Requests from suspended instances are left out, as are orphans whose requester
 * is gone: they do not take a place in the addressee's list.
 */
export async function pendingIncomingRequesters(
  executor: Executor,
  instanceId: string,
): Promise<{ requester: string; registeredFrom: string | null }[]> {
  return executor
    .select({ requester: connections.requester, registeredFrom: instances.registeredFrom })
    .from(connections)
    .innerJoin(instances, eq(instances.id, connections.requester))
    .where(
      and(
        eq(connections.addressee, instanceId),
        eq(connections.state, 'pending'),
        eq(instances.status, 'active'),
      ),
    )
}

/** When `addressee` last rejected a request from `requester` after `sinceMs`, if it did. */
export async function lastRejectionSince(
  executor: Executor,
  props: { requester: string; addressee: string; sinceMs: number },
): Promise<number | undefined> {
  // A rejected connection is final, so its updated_at is when it was rejected.
  const [row] = await executor
    .select({ at: connections.updatedAt })
    .from(connections)
    .where(
      and(
        eq(connections.requester, props.requester),
        eq(connections.addressee, props.addressee),
        eq(connections.state, 'rejected'),
        gt(connections.updatedAt, props.sinceMs),
      ),
    )
    .orderBy(desc(connections.updatedAt))
    .limit(1)
  return row?.at
}

export async function listConnectionsOf(executor: Executor, instanceId: string): Promise<ConnectionRow[]> {
  return executor
    .select()
    .from(connections)
    .where(or(eq(connections.requester, instanceId), eq(connections.addressee, instanceId)))
    .orderBy(asc(connections.createdAt))
}

export async function setConnectionState(
  executor: Executor,
  props: { id: string; state: string; nowMs: number },
): Promise<void> {
  await executor
    .update(connections)
    .set({ state: props.state, updatedAt: props.nowMs })
    .where(eq(connections.id, props.id))
}

export async function insertHistory(
  executor: Executor,
  row: typeof connectionHistory.$inferInsert,
): Promise<void> {
  await executor.insert(connectionHistory).values(row)
}

export async function historyOf(
  executor: Executor,
  connectionIds: string[],
): Promise<Map<string, HistoryRow[]>> {
  const byConnection = new Map<string, HistoryRow[]>()
  if (connectionIds.length === 0) return byConnection
  const history = await executor
    .select()
    .from(connectionHistory)
    .where(inArray(connectionHistory.connectionId, connectionIds))
    .orderBy(asc(connectionHistory.id))
  for (const entry of history) {
    const list = byConnection.get(entry.connectionId) ?? []
    list.push(entry)
    byConnection.set(entry.connectionId, list)
  }
  return byConnection
}

export async function instancesByIds(executor: Executor, ids: string[]) {
  if (ids.length === 0) return new Map<string, typeof instances.$inferSelect>()
  const found = await executor.select().from(instances).where(inArray(instances.id, ids))
  return new Map(found.map((row) => [row.id, row]))
}

/** Revocation purges what is still queued on the connection: its ciphertext goes now (PROTOCOL.md §3.1). */
export async function purgeQueuedEnvelopes(executor: Executor, connectionId: string): Promise<string[]> {
  const purged = await executor
    .delete(queue)
    .where(and(eq(queue.connectionId, connectionId), eq(queue.kind, 'envelope')))
    .returning({ itemId: queue.itemId })
  return purged.map((row) => row.itemId)
}

/** True if the two instances have ever had a connection: only then may one see the other's details. */
export async function haveConnection(executor: Executor, a: string, b: string): Promise<boolean> {
  const [row] = await executor
    .select({ one: sql<number>`1` })
    .from(connections)
    .where(
      or(
        and(eq(connections.requester, a), eq(connections.addressee, b)),
        and(eq(connections.requester, b), eq(connections.addressee, a)),
      ),
    )
    .limit(1)
  return row !== undefined
}
