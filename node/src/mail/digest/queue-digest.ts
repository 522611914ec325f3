import { and, eq, isNull, lt, or } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { notifications, outgoingMail, partners, users } from '../../db/schema.ts'
import { collectDigest, digestWindowStart, isEmpty } from './collect.ts'
import { digestDue } from './due.ts'
import { renderDigest } from './render-digest.ts'

export type DigestOutcome = 'queued' | 'nothing to say' | 'not due'

/**
 * Queues one user's digest for their local today, in the caller's transaction: the day is taken
 * (`digest_sent_on`) by a conditional update first, so a second tick, a restart or a second process
 * on the same file finds it taken and queues nothing; then the content is collected and, unless it
 * says nothing, written as an email (`outgoing_mail` of kind digest, one `notifications` recipient
 * row with no record) that the mail sender sends like any other. A day with nothing to say is
 * taken too, so it is not collected again every minute.
 */
export function queueDigest(
  tx: Tx,
  input: {
    userId: number
    now: number
    site: { company: string; publicUrl: string }
  },
): DigestOutcome {
  const { now } = input
  // Read again here: the user may have changed their zone, hour or address since the tick looked.
  const user = tx
    .select({
      userId: users.id,
      partnerId: users.partnerId,
      role: users.role,
      notification: users.notification,
      timeZone: users.timeZone,
      digest: users.digest,
      digestHour: users.digestHour,
      digestSentOn: users.digestSentOn,
      active: users.active,
      name: partners.name,
      email: partners.email,
    })
    .from(users)
    .innerJoin(partners, eq(partners.id, users.partnerId))
    .where(eq(users.id, input.userId))
    .get()
  if (!user?.digest || !user.active || !user.email) return 'not due'
  const today = digestDue({ now, timeZone: user.timeZone, hour: user.digestHour, sentOn: user.digestSentOn })
  if (today === null) return 'not due'
  const taken = tx
    .update(users)
    .set({ digestSentOn: today })
    .where(and(eq(users.id, user.userId), or(isNull(users.digestSentOn), lt(users.digestSentOn, today))))
    .run().changes
  if (taken === 0) return 'not due'

  const since = digestWindowStart(tx, { partnerId: user.partnerId, now })
  const content = collectDigest(tx, { user, since, today })
  if (isEmpty(content)) return 'nothing to say'
  const mail = renderDigest({ content, user, site: input.site })
  const { id: mailId } = tx
    .insert(outgoingMail)
    .values({
      kind: 'digest',
      recordId: null,
      messageId: null,
      activityId: null,
      subject: mail.subject,
      body: mail.body,
      createdAt: now,
    })
    .returning({ id: outgoingMail.id })
    .get()
  tx.insert(notifications)
    .values({
      partnerId: user.partnerId,
      userId: user.userId,
      recordId: null,
      messageId: null,
      activityId: null,
      reason: 'digest',
      channel: 'email',
      mailId,
      emailTo: user.email,
      emailStatus: 'queued',
      emailQueuedAt: now,
      emailNextAt: now,
      createdAt: now,
    })
    .run()
  return 'queued'
}
