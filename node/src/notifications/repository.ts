import { and, count, desc, eq, getTableName, inArray, isNull, lt, type SQL } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { once } from '../db/raw.ts'
import { messages, models, notifications, outgoingMail, partners, records, users } from '../db/schema.ts'
import type { Candidate } from './recipients.ts'

export type NotificationRow = typeof notifications.$inferSelect

/** Only an email can be a digest, and only a digest has no record: an inbox row has both narrowed. */
type InboxNotification = Omit<NotificationRow, 'reason' | 'recordId'> & {
  reason: Exclude<NotificationRow['reason'], 'digest'>
  recordId: number
}

/** An inbox notification with what the inbox shows of it: its record, model and message. */
export type InboxRow = {
  notification: InboxNotification
  record: { id: number; name: string }
  model: string
  message: typeof messages.$inferSelect | null
}

/**
 * A page of inbox notifications, newest first. `visible` is the inbox condition from the policies
 * (whose inbox, which records); it may use `records` and `models`, which are joined here.
 */
export function listInbox(
  tx: Tx,
  input: { visible: SQL; unreadOnly: boolean; before: number | undefined; limit: number },
): InboxRow[] {
  const rows = tx
    .select({
      notification: notifications,
      record: { id: records.id, name: records.name },
      model: models.name,
      message: messages,
    })
    .from(notifications)
    .innerJoin(records, eq(records.id, notifications.recordId))
    .innerJoin(models, eq(models.id, records.modelId))
    .leftJoin(messages, eq(messages.id, notifications.messageId))
    .where(
      and(
        input.visible,
        input.unreadOnly ? isNull(notifications.readAt) : undefined,
        input.before ? lt(notifications.id, input.before) : undefined,
      ),
    )
    .orderBy(desc(notifications.id))
    .limit(input.limit)
    .all()
  // The join on records leaves out digests, the only rows with no record or with that reason.
  return rows as InboxRow[]
}

/** Unread notifications per record, under the same inbox condition as `listInbox`. */
export function unreadPerRecord(
  tx: Tx,
  visible: SQL,
): { recordId: number; name: string; model: string; unread: number }[] {
  return tx
    .select({ recordId: records.id, name: records.name, model: models.name, unread: count() })
    .from(notifications)
    .innerJoin(records, eq(records.id, notifications.recordId))
    .innerJoin(models, eq(models.id, records.modelId))
    .where(and(visible, isNull(notifications.readAt)))
    .groupBy(notifications.recordId)
    .all()
}

/** Marks one notification read if `mine` holds for it and it is unread; returns whether it changed. */
export function markRead(tx: Tx, input: { id: number; mine: SQL; now: number }): boolean {
  return (
    tx
      .update(notifications)
      .set({ readAt: input.now })
      .where(and(eq(notifications.id, input.id), input.mine, isNull(notifications.readAt)))
      .run().changes > 0
  )
}

export function notificationExists(tx: Tx, input: { id: number; mine: SQL }): boolean {
  return (
    tx
      .select({ id: notifications.id })
      .from(notifications)
      .where(and(eq(notifications.id, input.id), input.mine))
      .get() !== undefined
  )
}

/** Marks every unread notification read where `mine` holds, or only those of one record. */
export function markAllRead(tx: Tx, input: { mine: SQL; recordId: number | undefined; now: number }): number {
  return tx
    .update(notifications)
    .set({ readAt: input.now })
    .where(
      and(
        input.mine,
        isNull(notifications.readAt),
        input.recordId !== undefined ? eq(notifications.recordId, input.recordId) : undefined,
      ),
    )
    .run().changes
}

// Telling people (notify.ts)

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

/** One notification: inbox, or email on the message's email for the recipient's audience. */
export function insertNotification(
  tx: Tx,
  row: {
    partnerId: number
    userId: number | null
    recordId: number
    messageId: number | null
    activityId: number | null
    reason: 'message' | 'mention' | 'assigned' | 'activity'
    channel: 'inbox' | 'email'
    mailId: number | null
    emailTo: string | null
    emailStatus: 'queued' | 'failed' | null
    emailError: string | null
    createdAt: number
  },
): void {
  // Every post runs this per explicit recipient: built once per connection.
  once(tx, 'notify.insert', (sqlite) =>
    sqlite.prepare(
      `insert into ${getTableName(notifications)} (partner_id, user_id, record_id, message_id, activity_id, reason,
         channel, mail_id, email_to, email_status, email_error, email_queued_at, email_next_at, created_at)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
  ).run(
    row.partnerId,
    row.userId,
    row.recordId,
    row.messageId,
    row.activityId,
    row.reason,
    row.channel,
    row.mailId,
    row.emailTo,
    row.emailStatus,
    row.emailError,
    row.emailStatus === 'queued' ? row.createdAt : null,
    row.emailStatus === 'queued' ? row.createdAt : null,
    row.createdAt,
  )
}

/** The content of one email of a message (or an assignment) for one audience; returns its id. */
export function insertOutgoingMail(
  tx: Tx,
  row: {
    kind: 'message' | 'activity'
    recordId: number
    messageId: number | null
    activityId: number | null
    subject: string
    body: string
    now: number
  },
): number {
  return Number(
    once(tx, 'notify.mail', (sqlite) =>
      sqlite.prepare(
        `insert into ${getTableName(outgoingMail)} (kind, record_id, message_id, activity_id, subject, body, created_at)
         values (?, ?, ?, ?, ?, ?, ?)`,
      ),
    ).run(row.kind, row.recordId, row.messageId, row.activityId, row.subject, row.body, row.now)
      .lastInsertRowid,
  )
}

/** Removes the emails among `ids` that no notification points at (nobody ended up on them). */
export function dropUnusedMails(tx: Tx, ids: number[]): void {
  once(tx, 'notify.dropUnusedMail', (sqlite) =>
    sqlite.prepare(
      `delete from ${getTableName(outgoingMail)}
        where id in (select value from json_each(?))
          and not exists (select 1 from ${getTableName(notifications)} n where n.mail_id = ${getTableName(outgoingMail)}.id)`,
    ),
  ).run(JSON.stringify(ids))
}
