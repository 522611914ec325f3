import { and, eq, inArray } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { ochatEmailSends } from '../../db/schema.ts'
import { type MessageRow, updateMessage } from '../delivery/status.ts'

/**
 * An email channel's Failed or Bounced message is sent again: its email is queued now, with two more
 * days of retries and its attempts forgotten, and the message is Pending again. It keeps its
 * Message-ID, so a copy that did arrive after all shows once in the partner's mail program. Answers
 * the message, or undefined when its email is not Failed or Bounced (a Retry racing another).
 */
export function retryPartnerEmail(tx: Tx, input: { row: MessageRow; nowMs: number }): MessageRow | undefined {
  const { row, nowMs } = input
  const moved = tx
    .update(ochatEmailSends)
    .set({
      emailStatus: 'queued',
      emailError: null,
      emailCode: null,
      emailAttempts: 0,
      emailQueuedAt: nowMs,
      emailNextAt: nowMs,
      emailSentAt: null,
    })
    .where(
      and(eq(ochatEmailSends.messageId, row.id), inArray(ochatEmailSends.emailStatus, ['failed', 'bounced'])),
    )
    .run().changes
  if (moved === 0) return undefined
  const set = {
    status: 'pending' as const,
    statusReason: null,
    nextAttemptAt: null,
    sentAt: null,
    retryingAt: null,
    failedAt: null,
  }
  updateMessage(tx, row.id, set)
  return { ...row, ...set }
}
