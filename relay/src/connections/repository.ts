import { and, asc, count, eq, inArray, or, sql } from 'drizzle-orm'
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

/** Pending requests to `instanceId` that it has not decided yet. */
export async function countPendingIncoming(executor: Executor, instanceId: string): Promise<number> {
  const [row] = await executor
    .select({ n: count() })
    .from(connections)
    .where(and(eq(connections.addressee, instanceId), eq(connections.state, 'pending')))
  return row?.n ?? 0
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

/** Revocation purges what is still queued on the connection: its ciphertext goes now (invariant 7). */
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
