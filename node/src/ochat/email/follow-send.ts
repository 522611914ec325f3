import { eq } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { ochatEmailSends } from '../../db/schema.ts'
import { applyStatus, findMessage, type MessageRow } from '../delivery/status.ts'

/**
 * An email channel's message shows how its email went: Retrying while the partner's server answers
 * 4xx (with that answer and the next attempt), Sent once a server accepted it, Failed on a 5xx or after
 * two days of retries (with the server's code and words), Bounced when a delivery report came back.
 * Runs in the transaction that moved the email; answers the message when its status changed.
 */
export function messageFollowsSend(
  tx: Tx,
  input: { messageId: number; now: number },
): MessageRow | undefined {
  const send = tx.select().from(ochatEmailSends).where(eq(ochatEmailSends.messageId, input.messageId)).get()
  const row = findMessage(tx, input.messageId)
  if (!send || !row) return undefined
  switch (send.emailStatus) {
    case 'sent':
      return applyStatus(tx, row, { status: 'sent', at: send.emailSentAt ?? input.now })
    case 'failed':
      return applyStatus(tx, row, { status: 'failed', at: input.now, reason: send.emailError ?? 'failed' })
    case 'bounced':
      return applyStatus(tx, row, { status: 'bounced', at: input.now, reason: send.emailError ?? 'bounced' })
    case 'queued':
      // Waiting for its first attempt is Pending; after a temporary refusal it is Retrying.
      if (send.emailAttempts === 0 || send.emailNextAt === null) return undefined
      return applyStatus(tx, row, {
        status: 'retrying',
        at: input.now,
        nextAttemptAt: send.emailNextAt,
        reason: send.emailError ?? 'the mail server asked to try again later',
      })
    default:
      return undefined
  }
}
