import type { ConnectionView } from '@ochat/shared-protocol'
import { and, eq, isNotNull } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { ochatMessages } from '../../db/schema.ts'
import { channelOfConnection, ensureChannel } from '../channels/repository.ts'
import { applyConnectionView } from './apply-connection-view.ts'
import type { ConnectionRow } from './repository.ts'

export type SyncOutcome = {
  /** Something a person would see changed: the connection list is pushed to the UI. */
  changed: boolean
  /** Connections whose peer keys changed just now (an alert for the admins). */
  keyChanges: ConnectionRow[]
  /** Channels created now (a connection became accepted). */
  newChannels: number[]
  /** Connections now open again or newly accepted: the outbox may have work for them. */
  opened: boolean
}

/**
 * Stores the relay's view of connections (PROTOCOL.md §3.2), in one transaction. A connection that
 * became accepted gets its channel; one that was revoked or rejected ends the outbox work for it
 * (the outbox fails those messages with the reason on its next pass).
 */
export function storeConnectionViews(
  tx: Tx,
  views: ConnectionView[],
  nowMs: number,
  extra: Map<string, { contactPartnerId?: number; acceptedHere?: boolean }> = new Map(),
): SyncOutcome {
  const outcome: SyncOutcome = { changed: false, keyChanges: [], newChannels: [], opened: false }
  for (const view of views) {
    const { row, changed, keyChanged, becameAccepted } = applyConnectionView({
      tx,
      view,
      nowMs,
      ...extra.get(view.id),
    })
    outcome.changed ||= changed
    if (keyChanged) outcome.keyChanges.push(row)
    if (row.state === 'accepted') {
      const { channel, created } = ensureChannel(tx, row.id, nowMs)
      if (created) outcome.newChannels.push(channel.id)
    }
    if (becameAccepted) outcome.opened = true
    if (changed && row.state !== 'accepted' && row.state !== 'pending') {
      // Revoked or rejected: anything still in the outbox for it is looked at now, and fails.
      outcome.opened = true
      tx.update(ochatMessages)
        .set({ outboxDueAt: nowMs })
        .where(
          and(
            isNotNull(ochatMessages.outboxDueAt),
            eq(ochatMessages.channelId, channelOfConnection(tx, row.id)?.id ?? -1),
          ),
        )
        .run()
    }
  }
  return outcome
}
