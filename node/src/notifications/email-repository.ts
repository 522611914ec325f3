import { and, desc, eq, inArray, sql } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { notifications, partners } from '../db/schema.ts'

/** One email recipient of a record's message or activity, with how sending it went. */
export type EmailRecipientRow = {
  notification: typeof notifications.$inferSelect
  partnerName: string
}

/** Failed and bounced emails are what people must act on: the record shows their count in red. */
export const FAILED_EMAIL_STATUSES = ['failed', 'bounced'] as const

/**
 * The email recipients of a record, newest first; of some of its messages only when `messageIds` is
 * given (a page of the chatter).
 */
export function listEmailRecipients(
  tx: Tx,
  input: { recordId: number; messageIds?: number[]; limit: number },
): EmailRecipientRow[] {
  if (input.messageIds?.length === 0) return []
  return tx
    .select({ notification: notifications, partnerName: partners.name })
    .from(notifications)
    .innerJoin(partners, eq(partners.id, notifications.partnerId))
    .where(
      and(
        eq(notifications.recordId, input.recordId),
        eq(notifications.channel, 'email'),
        input.messageIds ? inArray(notifications.messageId, input.messageIds) : undefined,
      ),
    )
    .orderBy(desc(notifications.id))
    .limit(input.limit)
    .all()
}

/** The email recipients of these messages, by message, for presenting a page of the chatter. */
export function emailRecipientsByMessage(tx: Tx, messageIds: number[]): Map<number, EmailRecipientRow[]> {
  const byMessage = new Map<number, EmailRecipientRow[]>()
  if (messageIds.length === 0) return byMessage
  const rows = tx
    .select({ notification: notifications, partnerName: partners.name })
    .from(notifications)
    .innerJoin(partners, eq(partners.id, notifications.partnerId))
    .where(and(inArray(notifications.messageId, messageIds), eq(notifications.channel, 'email')))
    .orderBy(notifications.id)
    .all()
  for (const row of rows) {
    const messageId = row.notification.messageId
    if (messageId === null) continue
    const list = byMessage.get(messageId)
    if (list) list.push(row)
    else byMessage.set(messageId, [row])
  }
  return byMessage
}

/** Failed and bounced emails per record (records with none are absent). */
export function failedEmailCounts(tx: Tx, recordIds: number[]): Map<number, number> {
  if (recordIds.length === 0) return new Map()
  const rows = tx
    .select({ recordId: notifications.recordId, failed: sql<number>`count(*)` })
    .from(notifications)
    .where(
      and(
        inArray(notifications.recordId, recordIds),
        eq(notifications.channel, 'email'),
        inArray(notifications.emailStatus, [...FAILED_EMAIL_STATUSES]),
      ),
    )
    .groupBy(notifications.recordId)
    .all()
  return new Map(rows.flatMap((row) => (row.recordId === null ? [] : [[row.recordId, row.failed] as const])))
}

/** One email recipient by its notification id; undefined for inbox notifications and unknown ids. */
export function findEmailRecipient(tx: Tx, id: number): EmailRecipientRow | undefined {
  return tx
    .select({ notification: notifications, partnerName: partners.name })
    .from(notifications)
    .innerJoin(partners, eq(partners.id, notifications.partnerId))
    .where(and(eq(notifications.id, id), eq(notifications.channel, 'email')))
    .get()
}

/** The partner's address now: a retry goes to it, so fixing a typo on the contact and retrying works. */
export function currentAddress(tx: Tx, partnerId: number): string | null {
  return (
    tx.select({ email: partners.email }).from(partners).where(eq(partners.id, partnerId)).get()?.email ?? null
  )
}

/** Moves one email recipient, only if it is still in a state it may move from (a sender may race). */
export function moveEmail(
  tx: Tx,
  input: {
    id: number
    from: readonly string[]
    set: Partial<
      Pick<
        typeof notifications.$inferInsert,
        'emailStatus' | 'emailError' | 'emailAttempts' | 'emailQueuedAt' | 'emailNextAt' | 'emailTo'
      >
    >
  },
): boolean {
  return (
    tx
      .update(notifications)
      .set(input.set)
      .where(and(eq(notifications.id, input.id), inArray(notifications.emailStatus, [...input.from])))
      .run().changes > 0
  )
}
