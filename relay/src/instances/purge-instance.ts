import { and, count, eq, inArray, or } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import {
  blobGrants,
  connectionHistory,
  connections,
  destinations,
  instances,
  leases,
  queue,
} from '../db/schema.ts'
import { announceInstanceChange } from '../delivery/lease-repository.ts'
import { lockInstance } from './repository.ts'

export type PurgeOutcome =
  | {
      purged: true
      /** Its requests that were still waiting for an answer, and requests to it. */
      pendingRequests: number
      /** Every connection it was part of, pending ones included. */
      connections: number
      /** Items queued for it or on its connections. */
      queuedItems: number
    }
  | { purged: false; reason: string }

/**
 * Removes a spam registration for the operator: the instance, every connection it was part of with
 * its history (its pending requests leave the addressees' lists at once), what is queued for it or on
 * those connections, its lease, breaker and download grants. An instance with an accepted connection
 * is left alone: a company talks to it, so it is suspended rather than erased. Envelope metadata goes
 * with the retention, as for everyone.
 */
export async function purgeInstance(props: { db: Db; id: string }): Promise<PurgeOutcome> {
  const outcome = await props.db.transaction(async (tx): Promise<PurgeOutcome> => {
    if (!(await lockInstance(tx, props.id))) return { purged: false, reason: 'not registered' }
    const involved = or(eq(connections.requester, props.id), eq(connections.addressee, props.id))
    const [accepted] = await tx
      .select({ n: count() })
      .from(connections)
      .where(and(involved, eq(connections.state, 'accepted')))
    if (accepted && accepted.n > 0) {
      return {
        purged: false,
        reason: `${accepted.n} accepted connection${accepted.n === 1 ? '' : 's'}: suspend it instead`,
      }
    }
    const removed = await tx
      .delete(connections)
      .where(involved)
      .returning({ id: connections.id, state: connections.state })
    const ids = removed.map((row) => row.id)
    const queued = await tx
      .delete(queue)
      .where(
        ids.length > 0
          ? or(eq(queue.destination, props.id), inArray(queue.connectionId, ids))
          : eq(queue.destination, props.id),
      )
      .returning({ qid: queue.qid })
    if (ids.length > 0) await tx.delete(connectionHistory).where(inArray(connectionHistory.connectionId, ids))
    await tx.delete(leases).where(eq(leases.instanceId, props.id))
    await tx.delete(destinations).where(eq(destinations.instanceId, props.id))
    await tx.delete(blobGrants).where(eq(blobGrants.instanceId, props.id))
    await tx.delete(instances).where(eq(instances.id, props.id))
    return {
      purged: true,
      pendingRequests: removed.filter((row) => row.state === 'pending').length,
      connections: removed.length,
      queuedItems: queued.length,
    }
  })
  // Its sockets close on every replica; reconnecting, it is unknown.
  if (outcome.purged) await announceInstanceChange(props.db, props.id)
  return outcome
}
