import type { ConnectionView, InstancePublicKeys } from '@ochat/shared-protocol'
import type { Tx } from '../../db/client.ts'
import { foreignName } from '../delivery/names.ts'
import { type ConnectionRow, findConnection, insertConnection, updateConnection } from './repository.ts'

function sameKeys(a: InstancePublicKeys, b: InstancePublicKeys): boolean {
  return a.identityKey === b.identityKey && a.encryptionKey === b.encryptionKey
}

/**
 * The row just updated. It was read in this same transaction and nothing deletes connections, so a
 * missing row is a bug to report, not a state to paper over with the stale copy.
 */
function stillThere(row: ConnectionRow | undefined, id: string): ConnectionRow {
  if (!row) throw new Error(`connection ${id} vanished inside its own transaction`)
  return row
}

/**
 * Stores the relay's view of a connection, deciding which peer keys are pinned. The first keys seen
 * are pinned (trust on first use, then compared by the admins through the safety code); later keys
 * that differ from the pinned ones mark a key change, which pauses the channel until an admin
 * verifies the new code (commands.ts verifyKeys pins them then). Answers what changed, so the caller
 * can tell people.
 *
 * The relay is not trusted with this decision: nothing flows without a connection an admin here
 * accepted, and a key change is never silent:
 * - rejected and revoked are final (PROTOCOL.md §3.1): a view that brings one back is ignored;
 * - a view older than the one held (by the relay's updatedAt) changes nothing;
 * - a connection accepted without an admin here having accepted it or seen it pending (the relay
 *   reports one we never heard of as accepted already, or says an incoming request we did not decide
 *   on was accepted) is paused like a key change, so nothing flows until an admin compared its safety
 *   code with the other company. Otherwise a relay could open a channel with keys it holds, under a
 *   partner's name.
 */
export function applyConnectionView(input: {
  tx: Tx
  view: ConnectionView
  nowMs: number
  /** The contact the other company is filed under, when our admin chose one with this view. */
  contactPartnerId?: number | undefined
  /** The view is the relay's answer to our own admin's accept. */
  acceptedHere?: boolean | undefined
}): { row: ConnectionRow; changed: boolean; keyChanged: boolean; becameAccepted: boolean } {
  const { tx, view, nowMs, contactPartnerId } = input
  const existing = findConnection(tx, view.id)
  // An email partner is ours alone: a relay view under its id (a relay that knows it) changes nothing.
  if (existing?.transport === 'email')
    return { row: existing, changed: false, keyChanged: false, becameAccepted: false }
  // The relay's schema allows any text here: shown in lists and email subjects, it is cleaned first.
  const peerName = foreignName(view.peer.name, view.peer.instanceId)
  const unseenAcceptance =
    view.state === 'accepted' &&
    input.acceptedHere !== true &&
    (existing === undefined || (existing.state === 'pending' && existing.direction === 'incoming'))
  if (!existing) {
    const row = insertConnection(tx, {
      id: view.id,
      peerInstanceId: view.peer.instanceId,
      peerName,
      direction: view.direction,
      state: view.state,
      message: view.message,
      history: view.history,
      contactPartnerId: contactPartnerId ?? null,
      peerKeys: view.peer.keys,
      pinnedKeys: view.peer.keys,
      keyChangedAt: unseenAcceptance ? nowMs : null,
      createdAt: view.createdAt,
      updatedAt: view.updatedAt,
      syncedAt: nowMs,
    })
    return { row, changed: true, keyChanged: unseenAcceptance, becameAccepted: view.state === 'accepted' }
  }
  if (view.updatedAt < existing.updatedAt) {
    // An older view than the one we hold (a read that began before a newer one ended): it must not
    // take the connection back, e.g. from accepted to pending.
    if (contactPartnerId === undefined)
      return { row: existing, changed: false, keyChanged: false, becameAccepted: false }
    const row = stillThere(updateConnection(tx, view.id, { contactPartnerId }), view.id)
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
  const row = stillThere(
    updateConnection(tx, view.id, {
      peerName,
      state,
      message: view.message,
      history: view.history,
      // Reported, never pinned here: the pinned keys change only when an admin verifies.
      peerKeys: view.peer.keys,
      // A pause ends only when an admin verifies (commands.ts verifyKeys), not when the relay says otherwise.
      keyChangedAt: keysDiffer || unseenAcceptance ? (existing.keyChangedAt ?? nowMs) : existing.keyChangedAt,
      updatedAt: view.updatedAt,
      syncedAt: nowMs,
      ...(contactPartnerId !== undefined ? { contactPartnerId } : {}),
    }),
    view.id,
  )
  return {
    row,
    changed: changed || contactPartnerId !== undefined,
    keyChanged,
    becameAccepted: existing.state !== 'accepted' && state === 'accepted',
  }
}
