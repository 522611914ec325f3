import type { ConnectionView, InstancePublicKeys } from '@ochat/shared-protocol'
import { eq, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { once } from '../../db/raw.ts'
import { ochatConnections } from '../../db/schema.ts'
import { foreignName } from '../delivery/names.ts'

export type ConnectionRow = typeof ochatConnections.$inferSelect

/** Read for every message both ways, so prepared once (db/raw.ts). */
export function findConnection(tx: Tx, id: string): ConnectionRow | undefined {
  return once(tx, 'ochat.connection.byId', () =>
    tx
      .select()
      .from(ochatConnections)
      .where(eq(ochatConnections.id, sql.placeholder('id')))
      .prepare(),
  ).get({ id })
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
 *
 * The relay is not trusted with this decision (DESIGN.md invariants 7 and 8):
 * - rejected and revoked are final (PROTOCOL.md §3.1): a view that brings one back is ignored;
 * - a view older than the one held (by the relay's updatedAt) changes nothing;
 * - a connection accepted without an admin here having accepted it or seen it pending (the relay
 *   reports one we never heard of as accepted already, or says an incoming request we did not decide
 *   on was accepted) is paused like a key change, so nothing flows until an admin compared its safety
 *   code with the other company. Otherwise a relay could open a channel with keys it holds, under a
 *   partner's name.
 */
export function upsertConnection(
  tx: Tx,
  view: ConnectionView,
  nowMs: number,
  extra: {
    contactPartnerId?: number
    /** The view is the relay's answer to our own admin's accept. */
    acceptedHere?: boolean
  } = {},
): { row: ConnectionRow; changed: boolean; keyChanged: boolean; becameAccepted: boolean } {
  const existing = findConnection(tx, view.id)
  // The relay's schema allows any text here: shown in lists and email subjects, it is cleaned first.
  const peerName = foreignName(view.peer.name, view.peer.instanceId)
  const unseenAcceptance =
    view.state === 'accepted' &&
    extra.acceptedHere !== true &&
    (existing === undefined || (existing.state === 'pending' && existing.direction === 'incoming'))
  if (!existing) {
    const row = tx
      .insert(ochatConnections)
      .values({
        id: view.id,
        peerInstanceId: view.peer.instanceId,
        peerName,
        direction: view.direction,
        state: view.state,
        message: view.message,
        history: view.history,
        contactPartnerId: extra.contactPartnerId ?? null,
        peerKeys: view.peer.keys,
        pinnedKeys: view.peer.keys,
        keyChangedAt: unseenAcceptance ? nowMs : null,
        createdAt: view.createdAt,
        updatedAt: view.updatedAt,
        syncedAt: nowMs,
      })
      .returning()
      .get()
    return { row, changed: true, keyChanged: unseenAcceptance, becameAccepted: view.state === 'accepted' }
  }
  if (view.updatedAt < existing.updatedAt) {
    // An older view than the one we hold (a read that began before a newer one ended): it must not
    // take the connection back, e.g. from accepted to pending.
    if (extra.contactPartnerId === undefined)
      return { row: existing, changed: false, keyChanged: false, becameAccepted: false }
    const row = tx
      .update(ochatConnections)
      .set({ contactPartnerId: extra.contactPartnerId })
      .where(eq(ochatConnections.id, view.id))
      .returning()
      .get()
    return { row, changed: true, keyChanged: false, becameAccepted: false }
  }
  const final = existing.state === 'rejected' || existing.state === 'revoked'
  const state = final ? existing.state : view.state
  const keysDiffer = !sameKeys(view.peer.keys, existing.pinnedKeys)
  const keyChanged = (keysDiffer || unseenAcceptance) && existing.keyChangedAt === null
  const changed =
    existing.state !== state ||
    existing.updatedAt !== view.updatedAt ||
    existing.peerName !== peerName ||
    !sameKeys(view.peer.keys, existing.peerKeys)
  const row = tx
    .update(ochatConnections)
    .set({
      peerName,
      state,
      message: view.message,
      history: view.history,
      peerKeys: view.peer.keys,
      // A pause ends only when an admin verifies (commands.ts verifyKeys), not when the relay says otherwise.
      keyChangedAt: keysDiffer || unseenAcceptance ? (existing.keyChangedAt ?? nowMs) : existing.keyChangedAt,
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
    becameAccepted: existing.state !== 'accepted' && state === 'accepted',
  }
}
