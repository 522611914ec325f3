import { and, eq, isNull, sql } from 'drizzle-orm'
import { escapeHtml, plainText } from '../../chatter/body.ts'
import type { Tx } from '../../db/client.ts'
import { once } from '../../db/raw.ts'
import { ochatChannelMembers, ochatNotifications, outgoingMail, partners, users } from '../../db/schema.ts'
import type { MessageRow } from './status.ts'

/**
 * Tells a channel's members about an incoming message, each by their preference: an inbox
 * notification (read when they open the thread), or an email queued for the mail sender. Answers the
 * members' user ids, for live events.
 */
export function notifyMembers(
  tx: Tx,
  input: { row: MessageRow; channelId: number; peerName: string; now: number },
): number[] {
  // Runs for every message received, so prepared once (db/raw.ts).
  const members = once(tx, 'ochat.notify.members', () =>
    tx
      .select({ userId: users.id, notification: users.notification, email: partners.email })
      .from(ochatChannelMembers)
      .innerJoin(users, eq(users.id, ochatChannelMembers.userId))
      .innerJoin(partners, eq(partners.id, users.partnerId))
      .where(and(eq(ochatChannelMembers.channelId, sql.placeholder('channelId')), eq(users.active, true)))
      .prepare(),
  ).all({ channelId: input.channelId })
  if (members.length === 0) return []
  const emailed = members.filter((member) => member.notification === 'email' && member.email)
  let mailId: number | null = null
  if (emailed.length > 0) {
    const preview = plainText(input.row.html).slice(0, 80)
    mailId = tx
      .insert(outgoingMail)
      .values({
        kind: 'ochat',
        subject:
          `O'Chat: ${input.row.authorName} (${input.peerName})${preview ? `: ${preview}` : ''}`.replace(
            /[\r\n]+/g,
            ' ',
          ),
        body: `<p><strong>${escapeHtml(input.row.authorName)}</strong> (${escapeHtml(input.peerName)}) wrote:</p>${input.row.html}`,
        createdAt: input.now,
      })
      .returning({ id: outgoingMail.id })
      .get().id
  }
  const insert = once(tx, 'ochat.notify.insert', () =>
    tx
      .insert(ochatNotifications)
      .values({
        messageId: sql.placeholder('messageId'),
        userId: sql.placeholder('userId'),
        channelId: sql.placeholder('channelId'),
        channel: sql.placeholder('channel'),
        mailId: sql.placeholder('mailId'),
        emailTo: sql.placeholder('emailTo'),
        emailStatus: sql.placeholder('emailStatus'),
        emailQueuedAt: sql.placeholder('emailNextAt'),
        emailNextAt: sql.placeholder('emailNextAt'),
      })
      .prepare(),
  )
  for (const member of members) {
    const byEmail = member.notification === 'email' && Boolean(member.email)
    insert.run({
      messageId: input.row.id,
      userId: member.userId,
      channelId: input.channelId,
      channel: byEmail ? 'email' : 'inbox',
      mailId: byEmail ? mailId : null,
      emailTo: byEmail ? member.email : null,
      emailStatus: byEmail ? 'queued' : null,
      emailNextAt: byEmail ? input.now : null,
    })
  }
  return members.map((member) => member.userId)
}

/** Marks a user's notifications of a channel read (opening the thread); answers how many. */
export function markChannelNotificationsRead(
  tx: Tx,
  input: { channelId: number; userId: number; now: number },
): number {
  return tx
    .update(ochatNotifications)
    .set({ readAt: input.now })
    .where(
      and(
        eq(ochatNotifications.channelId, input.channelId),
        eq(ochatNotifications.userId, input.userId),
        isNull(ochatNotifications.readAt),
      ),
    )
    .run().changes
}
