import { z } from 'zod'
import type { EmailRecipientRow } from './email-repository.ts'

export const EmailStatusSchema = z.enum(['queued', 'sent', 'failed', 'bounced', 'canceled'])

/**
 * One recipient of a message (or an activity) by email, and how sending to them went. Internal users
 * only: it carries the addresses of everyone the record's messages went to.
 */
export const EmailRecipientViewSchema = z.object({
  /** The notification: retry and cancel it at /api/v1/notifications/{id}/retry and /cancel. */
  id: z.int(),
  messageId: z.int().nullable(),
  activityId: z.int().nullable(),
  partner: z.object({ id: z.int(), name: z.string() }),
  /** Empty when the contact had no address. */
  address: z.string(),
  /**
   * queued (waiting or retrying), sent (the SMTP server accepted it), failed (refused for good, or
   * retried for two days), bounced (came back after it was sent), canceled (someone stopped it).
   */
  status: EmailStatusSchema,
  /** Why it failed, bounced or is still waiting, as people read it. */
  reason: z.string().nullable(),
  /** The SMTP reply code of the last answer (250, 451, 550…), when there was one. */
  code: z.int().nullable(),
  attempts: z.int(),
  /** Queued: when the next attempt is due, ms. */
  nextAttemptAt: z.int().nullable(),
  sentAt: z.int().nullable(),
})
export type EmailRecipientView = z.infer<typeof EmailRecipientViewSchema>

/** A record's email recipients, and how many of all its emails failed or bounced. */
export const RecordEmailsSchema = z.object({
  failed: z.int(),
  items: z.array(EmailRecipientViewSchema),
})

export function presentEmailRecipient(row: EmailRecipientRow): EmailRecipientView {
  const n = row.notification
  const status = EmailStatusSchema.safeParse(n.emailStatus)
  return {
    id: n.id,
    messageId: n.messageId,
    activityId: n.activityId,
    partner: { id: n.partnerId, name: row.partnerName },
    address: n.emailTo ?? '',
    // Rows are written queued or failed and moved only to the statuses above, or to `sending` for the
    // moment the sender hands the email over: shown as queued, it is still on its way.
    status: status.success ? status.data : 'queued',
    reason: n.emailError,
    code: n.emailCode,
    attempts: n.emailAttempts,
    nextAttemptAt: n.emailStatus === 'queued' ? n.emailNextAt : null,
    sentAt: n.emailSentAt,
  }
}
