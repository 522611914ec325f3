import type { ConnectionView, InstancePublicKeys } from '@ochat/shared-protocol'
import { eq } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { ochatConnections } from '../../db/schema.ts'

export type ConnectionRow = typeof ochatConnections.$inferSelect

export function findConnection(tx: Tx, id: string): ConnectionRow | undefined {
  return tx.select().from(ochatConnections).where(eq(ochatConnections.id, id)).get()
}

export function allConnections(tx: Tx): ConnectionRow[] {
  return tx.select().from(ochatConnections).all()
}

export function sameKeys(a: InstancePublicKeys, b: InstancePublicKeys): boolean {
  return a.identityKey === b.identityKey && a.encryptionKey === b.encryptionKey
}

/** Whether messages may flow on this connection now: accepted, and no unverified key change. */
export function isOpen(row: ConnectionRow): boolean {
  return row.state === 'accepted' && row.keyChangedAt === null
}

/**
 * Stores the relay's view of a connection. The first keys seen are pinned (trust on first use, then
 * compared by the admins through the safety code); later keys that differ from the pinned ones mark
 * a key change, which pauses the channel until an admin verifies the new code (invariant 8).
 * Answers what changed, so the caller can tell people.
 */
export function upsertConnection(
  tx: Tx,
  view: ConnectionView,
  nowMs: number,
  extra: { contactPartnerId?: number } = {},
): { row: ConnectionRow; changed: boolean; keyChanged: boolean; becameAccepted: boolean } {
  const existing = findConnection(tx, view.id)
  if (!existing) {
    const row = tx
      .insert(ochatConnections)
      .values({
        id: view.id,
        peerInstanceId: view.peer.instanceId,
        peerName: view.peer.name,
        direction: view.direction,
        state: view.state,
        message: view.message,
        history: view.history,
        contactPartnerId: extra.contactPartnerId ?? null,
        peerKeys: view.peer.keys,
        pinnedKeys: view.peer.keys,
        createdAt: view.createdAt,
        updatedAt: view.updatedAt,
        syncedAt: nowMs,
      })
      .returning()
      .get()
    return { row, changed: true, keyChanged: false, becameAccepted: view.state === 'accepted' }
  }
  const keysDiffer = !sameKeys(view.peer.keys, existing.pinnedKeys)
  const keyChanged = keysDiffer && existing.keyChangedAt === null
  const changed =
    existing.state !== view.state ||
    existing.updatedAt !== view.updatedAt ||
    existing.peerName !== view.peer.name ||
    !sameKeys(view.peer.keys, existing.peerKeys)
  const row = tx
    .update(ochatConnections)
    .set({
      peerName: view.peer.name,
      state: view.state,
      message: view.message,
      history: view.history,
      peerKeys: view.peer.keys,
      keyChangedAt: keysDiffer ? (existing.keyChangedAt ?? nowMs) : null,
      updatedAt: view.updatedAt,
      syncedAt: nowMs,
      ...(extra.contactPartnerId !== undefined ? { contactPartnerId: extra.contactPartnerId } : {}),
    })
    .where(eq(ochatConnections.id, view.id))
    .returning()
    .get()
  return {
    row,
    changed: changed || extra.contactPartnerId !== undefined,
    keyChanged,
    becameAccepted: existing.state !== 'accepted' && view.state === 'accepted',
  }
}
