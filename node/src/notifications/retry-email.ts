import { eq } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { messages } from '../db/schema.ts'
import type { Effects } from '../live/events.ts'
import { EmailStatusError } from './email-errors.ts'
import { currentAddress, type EmailRecipientRow, findEmailRecipient, moveEmail } from './email-repository.ts'

/** Everything but a sent email may be sent again; a sent one already reached the server. */
const RETRYABLE = ['failed', 'bounced', 'canceled', 'queued'] as const

/**
 * Queues one email recipient again, due now: the sender picks it up when kicked after the commit. It
 * starts a new round: the attempts count from zero, so a temporary refusal is retried a minute later
 * again, not six hours; the reason is cleared until the next answer.
 * It goes to the contact's address as it is now, so correcting the address and retrying is the fix
 * for a typo.
 */
export function retryEmail(
  tx: Tx,
  input: { email: EmailRecipientRow; now: number; effects: Effects },
): EmailRecipientRow {
  const { notification } = input.email
  if (notification.emailStatus === 'sending') throw new EmailStatusError('E_EMAIL_SENDING')
  if (!(RETRYABLE as readonly (string | null)[]).includes(notification.emailStatus))
    throw new EmailStatusError('E_EMAIL_ALREADY_SENT')
  if (notification.messageId !== null && messageDeleted(tx, notification.messageId))
    throw new EmailStatusError('E_EMAIL_MESSAGE_DELETED')
  const address = currentAddress(tx, notification.partnerId) ?? ''
  if (!address) throw new EmailStatusError('E_EMAIL_NO_ADDRESS')
  const moved = moveEmail(tx, {
    id: notification.id,
    from: RETRYABLE,
    // A new round: temporary refusals are retried on the schedule from its start, for two days from now.
    set: {
      emailStatus: 'queued',
      emailAttempts: 0,
      emailQueuedAt: input.now,
      emailNextAt: input.now,
      emailError: null,
      emailTo: address,
    },
  })
  if (!moved) throw new EmailStatusError('E_EMAIL_ALREADY_SENT')
  if (notification.recordId !== null)
    input.effects.events.push({
      scope: 'record',
      recordId: notification.recordId,
      type: 'email.status',
      messageId: notification.messageId,
    })
  return findEmailRecipient(tx, notification.id) ?? input.email
}

function messageDeleted(tx: Tx, messageId: number): boolean {
  const row = tx
    .select({ deletedAt: messages.deletedAt })
    .from(messages)
    .where(eq(messages.id, messageId))
    .get()
  return !row || row.deletedAt !== null
}
