import { and, eq, inArray, ne, or } from 'drizzle-orm'
import type { BlobStore } from '../blobs/blob-store.ts'
import { deleteBlobRows } from '../blobs/repository.ts'
import type { Db } from '../db/client.ts'
import {
  blobGrants,
  blobs,
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
      /** Attachments it uploaded, deleted with their files. */
      blobs: number
    }
  | { purged: false; reason: string }

/**
 * Removes a spam registration for the operator: the instance, every connection it was part of with
 * its history (its pending requests leave the addressees' lists at once), what is queued for it or on
 * those connections, its lease, breaker and download grants, and the attachments it uploaded (their
 * files once the rest has committed). An instance with an accepted connection is left alone: a company
 * talks to it, so it is suspended rather than erased. Envelope metadata goes with the retention, as for
 * everyone.
 */
export async function purgeInstance(props: { db: Db; store: BlobStore; id: string }): Promise<PurgeOutcome> {
  const { outcome, blobIds } = await props.db.transaction(async (tx) => {
    const kept = (reason: string) => ({ outcome: { purged: false, reason } as PurgeOutcome, blobIds: [] })
    // A request from or to it locks this row too, so none can add a connection until the purge is done.
    if (!(await lockInstance(tx, props.id))) return kept('not registered')
    const involved = or(eq(connections.requester, props.id), eq(connections.addressee, props.id))
    // Locked before they are looked at: an accept committing meanwhile is waited for and seen here,
    // rather than erased with the rest.
    const mine = await tx.select({ state: connections.state }).from(connections).where(involved).for('update')
    const accepted = mine.filter((row) => row.state === 'accepted').length
    if (accepted > 0) {
      return kept(`${accepted} accepted connection${accepted === 1 ? '' : 's'}: suspend it instead`)
    }
    // Accepted ones are excluded again: a second guard, should anything ever accept without the lock.
    const removed = await tx
      .delete(connections)
      .where(and(involved, ne(connections.state, 'accepted')))
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
    // What it uploaded goes too, with the grants others had to it; without the row, an upload token it
    // still holds finds nothing to write to.
    const uploaded = await tx.select({ id: blobs.id }).from(blobs).where(eq(blobs.uploader, props.id))
    const blobIds = uploaded.map((row) => row.id)
    await deleteBlobRows(tx, blobIds)
    await tx.delete(instances).where(eq(instances.id, props.id))
    const purged: PurgeOutcome = {
      purged: true,
      pendingRequests: removed.filter((row) => row.state === 'pending').length,
      connections: removed.length,
      queuedItems: queued.length,
      blobs: blobIds.length,
    }
    return { outcome: purged, blobIds }
  })
  if (!outcome.purged) return outcome
  // Files only once the rows are gone for good: a rolled-back purge leaves every blob readable.
  for (const id of blobIds) await props.store.delete(id)
  // Its sockets close on every replica; reconnecting, it is unknown.
  await announceInstanceChange(props.db, props.id)
  return outcome
}
