import { and, eq, inArray } from 'drizzle-orm'
import { ochatEmailSends } from '../../db/schema.ts'
import type { WriteQueue } from '../../db/write-queue.ts'
import { NodeError } from '../../errors.ts'
import { channelOfConnection } from '../channels/repository.ts'
import { type ConnectionRow, findConnection, updateConnection } from '../connections/repository.ts'
import { findMessage, type MessageRow } from '../delivery/status.ts'
import type { Ochat } from '../runtime.ts'
import { messageFollowsSend } from './follow-send.ts'

/**
 * Revoking an email partner: nothing more is written to it, and what still waits to be emailed fails
 * with the reason (as a revoked relay connection's outbox does); the members hear of each.
 */
export async function revokeEmailContact(input: {
  ochat: Pick<Ochat, 'afterConnections' | 'publishStatus'>
  writes: WriteQueue
  id: string
  by: string
  note: string | undefined
  nowMs: number
}): Promise<ConnectionRow> {
  const { nowMs } = input
  const { row, failed } = await input.writes.run((tx) => {
    const existing = findConnection(tx, input.id)
    if (existing?.transport !== 'email') throw new NodeError('E_NOT_FOUND')
    if (existing.state !== 'accepted')
      throw new NodeError('E_OCHAT_CONNECTION_STATE', `a ${existing.state} connection cannot be revoked`)
    const row = updateConnection(tx, input.id, {
      state: 'revoked',
      history: [
        ...existing.history,
        {
          action: 'revoke',
          state: 'revoked',
          by: input.by,
          at: nowMs,
          ...(input.note ? { note: input.note } : {}),
        },
      ],
      updatedAt: nowMs,
    }) as ConnectionRow
    const channel = channelOfConnection(tx, input.id)
    const waiting = channel
      ? tx
          .update(ochatEmailSends)
          .set({
            emailStatus: 'failed',
            emailError: 'blocked: the connection was revoked',
            emailNextAt: null,
          })
          .where(
            and(eq(ochatEmailSends.channelId, channel.id), inArray(ochatEmailSends.emailStatus, ['queued'])),
          )
          .returning({ messageId: ochatEmailSends.messageId })
          .all()
      : []
    const failed: MessageRow[] = []
    for (const { messageId } of waiting) {
      messageFollowsSend(tx, { messageId, now: nowMs })
      const message = findMessage(tx, messageId)
      if (message) failed.push(message)
    }
    return { row, failed }
  })
  input.ochat.afterConnections({ changed: true, keyChanges: [], newChannels: [], opened: false })
  input.ochat.publishStatus(failed.map((message) => ({ row: message, channelId: message.channelId })))
  return row
}
