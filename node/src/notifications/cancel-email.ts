import type { Tx } from '../db/client.ts'
import type { Effects } from '../live/events.ts'
import { EmailStatusError } from './email-errors.ts'
import { type EmailRecipientRow, findEmailRecipient, moveEmail } from './email-repository.ts'

/** Only an email not sent yet (waiting, or given up on) can be called off. */
const CANCELABLE = ['queued', 'failed'] as const

/**
 * Cancels one email recipient: the sender no longer tries it, and it stops counting as failed on the
 * record. A sent or bounced email already left; a canceled one is already stopped.
 */
export function cancelEmail(
  tx: Tx,
  input: { email: EmailRecipientRow; effects: Effects },
): EmailRecipientRow {
  const { notification } = input.email
  if (notification.emailStatus === 'sending') throw new EmailStatusError('E_EMAIL_SENDING')
  const moved = moveEmail(tx, {
    id: notification.id,
    from: CANCELABLE,
    set: { emailStatus: 'canceled', emailNextAt: null },
  })
  if (!moved) throw new EmailStatusError('E_EMAIL_NOT_CANCELABLE', `This one is ${notification.emailStatus}.`)
  if (notification.recordId !== null)
    input.effects.events.push({
      scope: 'record',
      recordId: notification.recordId,
      type: 'email.status',
      messageId: notification.messageId,
    })
  return findEmailRecipient(tx, notification.id) ?? input.email
}
