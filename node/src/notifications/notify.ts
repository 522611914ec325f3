import { eq, inArray } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { notifications, outgoingMail, partners, users } from '../db/schema.ts'
import { followersWithPartners } from '../followers/repository.ts'
import type { Effects } from '../live/events.ts'
import { type Candidate, computeRecipients, type Recipient } from './recipients.ts'

/** Everything about a partner that deciding how to reach them needs. */
export function candidates(tx: Tx, partnerIds: number[]): Candidate[] {
  if (partnerIds.length === 0) return []
  return tx
    .select({
      partnerId: partners.id,
      name: partners.name,
      email: partners.email,
      internal: partners.internal,
      partnerActive: partners.active,
      userId: users.id,
      userActive: users.active,
      notification: users.notification,
    })
    .from(partners)
    .leftJoin(users, eq(users.partnerId, partners.id))
    .where(inArray(partners.id, partnerIds))
    .all()
}

/** An email as it will be sent to one recipient; built per recipient so links follow their rights. */
export type MailContent = (recipient: Recipient) => { subject: string; body: string } | null

/**
 * Tells the recipients of a message: an inbox notification, or an email notification plus an outgoing
 * mail row (sent later by the mail queue, never inside this transaction). Returns who was told.
 */
export function notifyMessage(
  tx: Tx,
  input: {
    message: {
      id: number
      recordId: number
      internal: boolean
      subtypeKey: string
      authorPartnerId: number | null
    }
    explicit: { partnerId: number; reason: 'mention' | 'assigned' }[]
    mail: MailContent
    now: number
    effects: Effects
  },
): Recipient[] {
  const explicitReasons = new Map(input.explicit.map((entry) => [entry.partnerId, entry.reason]))
  const recipients = computeRecipients({
    followers: followersWithPartners(tx, input.message.recordId),
    explicit: candidates(tx, [...explicitReasons.keys()]).map((candidate) => ({
      ...candidate,
      reason: explicitReasons.get(candidate.partnerId) ?? 'mention',
    })),
    subtype: { key: input.message.subtypeKey, internal: input.message.internal },
    authorPartnerId: input.message.authorPartnerId,
  })
  deliver(tx, {
    recipients,
    recordId: input.message.recordId,
    messageId: input.message.id,
    activityId: null,
    mail: input.mail,
    now: input.now,
    effects: input.effects,
  })
  return recipients
}

/** Writes one notification per recipient, and an outgoing mail for those reached by email. */
export function deliver(
  tx: Tx,
  input: {
    recipients: Recipient[]
    recordId: number
    messageId: number | null
    activityId: number | null
    mail: MailContent
    now: number
    effects: Effects
  },
): void {
  for (const recipient of input.recipients) {
    const content = recipient.channel === 'email' ? input.mail(recipient) : null
    // Nothing that may be emailed (e.g. only restricted fields changed): no email notification at all.
    if (recipient.channel === 'email' && !content) continue
    const notification = tx
      .insert(notifications)
      .values({
        partnerId: recipient.partnerId,
        recordId: input.recordId,
        messageId: input.messageId,
        activityId: input.activityId,
        reason: recipient.reason,
        channel: recipient.channel,
        createdAt: input.now,
      })
      .returning({ id: notifications.id })
      .get()
    if (recipient.channel === 'inbox' && recipient.userId !== null)
      input.effects.events.push({ scope: 'user', userId: recipient.userId, type: 'inbox.changed' })
    if (content)
      tx.insert(outgoingMail)
        .values({
          notificationId: notification.id,
          partnerId: recipient.partnerId,
          recordId: input.recordId,
          messageId: input.messageId,
          emailTo: recipient.email ?? '',
          subject: content.subject,
          body: content.body,
          // A partner without an address cannot be emailed: kept, visible as failed, with the reason.
          status: recipient.email ? 'queued' : 'failed',
          lastError: recipient.email ? null : 'the contact has no email address',
          nextAttemptAt: input.now,
          createdAt: input.now,
        })
        .run()
  }
}
