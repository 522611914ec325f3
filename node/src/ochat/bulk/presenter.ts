import { z } from 'zod'
import { plainText } from '../../chatter/body.ts'
import type { ochatBulkSends } from '../../db/schema.ts'
import { OchatStatusSchema } from '../channels/presenter.ts'
import { hasReason, type MessageRow, nextStep, statusAt } from '../delivery/status.ts'

/** One recipient of a bulk send: its own message and its own status. */
export const BulkItemSchema = z.object({
  channelId: z.int(),
  messageId: z.int(),
  peer: z.object({ instanceId: z.string(), name: z.string() }),
  /** The partner this company is filed under here. */
  contact: z.object({ id: z.int(), name: z.string() }).nullable(),
  status: OchatStatusSchema,
  /** When it took its current status. */
  statusAt: z.int(),
  /** Retrying and Failed: why. */
  reason: z.string().nullable(),
  /** Retrying and Failed: what to check (the seed's troubleshooting). */
  nextStep: z.string().nullable(),
})

const count = z.int().min(0)

export const BulkSummarySchema = z.object({
  id: z.string(),
  createdAt: z.int(),
  author: z.object({ userId: z.int(), name: z.string().nullable() }),
  /** The message's first words, as plain text. */
  preview: z.string(),
  /** The message as sent: sanitized HTML, the same for every recipient. */
  html: z.string(),
  recipients: z.int(),
  /** How many recipients' messages are in each status now (each counts once, in its current status). */
  counts: z.object({
    pending: count,
    sent: count,
    delivered: count,
    read: count,
    retrying: count,
    /** With an email channel's Bounced ones: both wait for a person to act. */
    failed: count,
  }),
  items: z.array(BulkItemSchema),
})
export type BulkSummary = z.input<typeof BulkSummarySchema>

/** One recipient's message of a bulk send, with the connection it went to (repository.ts bulkRecipients). */
export type BulkRecipient = {
  message: MessageRow
  peerInstanceId: string
  peerName: string
  contactId: number | null
  contactName: string | null
  transport: 'relay' | 'email'
}

/** A bulk send with every recipient's message, its status, and the counts by status. */
export function presentBulk(
  bulk: typeof ochatBulkSends.$inferSelect,
  recipients: BulkRecipient[],
): BulkSummary {
  const counts = { pending: 0, sent: 0, delivered: 0, read: 0, retrying: 0, failed: 0 }
  for (const { message } of recipients)
    if (message.status === 'bounced') counts.failed++
    else if (message.status !== 'received') counts[message.status]++
  return {
    id: bulk.id,
    createdAt: bulk.createdAt,
    author: { userId: bulk.authorUserId, name: recipients[0]?.message.authorName ?? null },
    preview: plainText(bulk.html).slice(0, 120),
    html: bulk.html,
    recipients: bulk.recipients,
    counts,
    items: recipients.map(({ message, peerInstanceId, peerName, contactId, contactName, transport }) => ({
      channelId: message.channelId,
      messageId: message.id,
      peer: { instanceId: peerInstanceId, name: peerName },
      contact: contactId !== null && contactName !== null ? { id: contactId, name: contactName } : null,
      status: message.status,
      statusAt: statusAt(message),
      reason: hasReason(message.status) ? message.statusReason : null,
      nextStep: nextStep(message, transport),
    })),
  }
}
