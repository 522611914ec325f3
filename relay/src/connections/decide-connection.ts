import {
  CONNECTION_TRANSITIONS,
  type ConnectionDecision,
  type ConnectionState,
  type ConnectionView,
  STATE_AFTER,
} from '@ochat/shared-protocol'
import type { Db } from '../db/client.ts'
import { reportFailures, wake } from '../delivery/queue-repository.ts'
import { markFailed } from '../envelopes/repository.ts'
import { RelayError } from '../errors.ts'
import type { InstanceRow } from '../instances/repository.ts'
import { authorize, sideOf } from '../policies.ts'
import { presentConnection } from './presenter.ts'
import {
  deleteConnection,
  historyOf,
  insertHistory,
  instancesByIds,
  lockConnection,
  purgeQueuedEnvelopes,
  setConnectionState,
} from './repository.ts'

export type DecideConnectionProps = {
  db: Db
  actor: InstanceRow
  connectionId: string
  decision: ConnectionDecision
  nowMs: number
  /** How long the failure notices for purged envelopes stay queued for their senders. */
  deadlineMs: number
}

/**
 * Accept, reject or revoke (PROTOCOL.md §3.1). The row is locked, so a revoke waits for an envelope
 * batch that holds the connection and then purges what it queued; envelopes submitted after the revoke
 * commits find the connection revoked and are refused.
 */
export async function decideConnection(
  props: DecideConnectionProps,
): Promise<{ view: ConnectionView; purged: number }> {
  const outcome = await props.db.transaction(async (tx) => {
    const row = await lockConnection(tx, props.connectionId)
    // Someone else's connection does not exist for this instance: the same 404 as a missing one.
    const side = row ? sideOf(row, props.actor.id) : undefined
    authorize(row && side)
    const peerId = side === 'requester' ? row.addressee : row.requester
    const peer = (await instancesByIds(tx, [peerId])).get(peerId)
    // The other instance was purged and this connection outlived it: nothing can be decided with
    // nobody, so it goes, and the caller is told it is not there.
    if (!peer) {
      await deleteConnection(tx, row.id)
      return 'orphan' as const
    }
    const allowed = CONNECTION_TRANSITIONS[row.state as ConnectionState][side] ?? []
    if (!allowed.includes(props.decision.action)) {
      throw new RelayError(
        'E_CONNECTION_TRANSITION',
        `cannot ${props.decision.action} a ${row.state} connection as the ${side}`,
      )
    }
    const state = STATE_AFTER[props.decision.action]
    await setConnectionState(tx, { id: row.id, state, nowMs: props.nowMs })
    await insertHistory(tx, {
      connectionId: row.id,
      action: props.decision.action,
      state,
      by: props.actor.id,
      at: props.nowMs,
      note: props.decision.note ?? null,
    })
    let purged = 0
    if (state === 'revoked') {
      const reason = 'blocked: the connection was revoked before delivery'
      const rows = await markFailed(tx, {
        status: 'purged',
        ids: await purgeQueuedEnvelopes(tx, row.id),
        nowMs: props.nowMs,
        reason,
      })
      purged = rows.length
      // Each sender learns its undelivered envelopes failed, and why.
      await reportFailures(tx, {
        failures: rows.map((envelope) => ({ ...envelope, reason })),
        nowMs: props.nowMs,
        deadlineMs: props.deadlineMs,
      })
    }
    await wake(tx, [row.requester, row.addressee])
    const history = (await historyOf(tx, [row.id])).get(row.id) ?? []
    return {
      view: presentConnection({
        row: { ...row, state, updatedAt: props.nowMs },
        viewer: props.actor.id,
        peer,
        history,
      }),
      purged,
    }
  })
  if (outcome === 'orphan')
    throw new RelayError('E_NOT_FOUND', 'the other instance is no longer registered on this relay')
  return outcome
}
