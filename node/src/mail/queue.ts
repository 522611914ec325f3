import { and, asc, eq, inArray, lte, sql } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { ochatEmailSends, ochatNotifications } from '../db/ochat-schema.ts'
import { once } from '../db/raw.ts'
import { notifications } from '../db/schema.ts'
import { messageFollowsSend } from '../ochat/email/follow-send.ts'
import { GIVE_UP_AFTER_MS, nextAttemptAt } from './retry-schedule.ts'
import type { SmtpOutcome } from './transport.ts'

/**
 * One email to send: a recipient row of a record's mail (`notifications`), of an O'Chat message's
 * (`ochat_notifications`), or the email of a message in an email channel, to the partner company
 * (`ochat_email_sends`). The rows are the queue: nothing about sending lives only in memory.
 */
export type QueuedEmail =
  | {
      source: 'record'
      id: number
      partnerId: number
      userId: number | null
      /** null for a daily digest, which is about several records. */
      recordId: number | null
      messageId: number | null
      mailId: number | null
      emailTo: string
      attempts: number
      /** When this round of sending began (creation or the last Retry): retried for two days from it. */
      queuedAt: number
    }
  | {
      source: 'ochat'
      messageId: number
      userId: number
      mailId: number | null
      emailTo: string
      attempts: number
      queuedAt: number
    }
  | {
      source: 'partner'
      /** The outgoing O'Chat message. */
      messageId: number
      channelId: number
      mailId: number
      emailTo: string
      attempts: number
      queuedAt: number
    }

export function emailKey(email: QueuedEmail): string {
  if (email.source === 'record') return `r${email.id}`
  if (email.source === 'partner') return `p${email.messageId}`
  return `o${email.messageId}.${email.userId}`
}

/** Queued emails due by `now`, oldest due first, from the three tables (each through its partial index). */
export function dueEmails(tx: Tx, input: { now: number; limit: number }): QueuedEmail[] {
  const queries = dueEmailQueries(tx)
  const record = queries.record.all(input)
  const ochat = queries.ochat.all(input)
  const partner = queries.partner.all(input)
  const all: (QueuedEmail & { dueAt: number | null })[] = [
    ...record.map((row) => ({ ...row, source: 'record' as const, emailTo: row.emailTo ?? '' })),
    ...ochat.map((row) => ({ ...row, source: 'ochat' as const, emailTo: row.emailTo ?? '' })),
    ...partner.map((row) => ({ ...row, source: 'partner' as const })),
  ]
  return all
    .sort((a, b) => (a.dueAt ?? 0) - (b.dueAt ?? 0))
    .slice(0, input.limit)
    .map(({ dueAt: _dueAt, ...email }) => email)
}

/**
 * The queue's three statements, prepared once per connection: the sender looks after every commit
 * that queued mail. Status and channel are written into the SQL, not bound, so that SQLite can use
 * the partial indexes that hold only queued rows.
 */
export function dueEmailQueries(tx: Tx) {
  const dueRecordMail = once(tx, 'mail.queue.dueRecord', () =>
    tx
      .select({
        id: notifications.id,
        partnerId: notifications.partnerId,
        userId: notifications.userId,
        recordId: notifications.recordId,
        messageId: notifications.messageId,
        mailId: notifications.mailId,
        emailTo: notifications.emailTo,
        attempts: notifications.emailAttempts,
        queuedAt: sql<number>`coalesce(${notifications.emailQueuedAt}, ${notifications.createdAt})`,
        dueAt: notifications.emailNextAt,
      })
      .from(notifications)
      .where(
        and(
          sql`${notifications.channel} = 'email' and ${notifications.emailStatus} = 'queued'`,
          lte(notifications.emailNextAt, sql.placeholder('now')),
        ),
      )
      .orderBy(asc(notifications.emailNextAt))
      .limit(sql.placeholder('limit'))
      .prepare(),
  )
  const dueOchatMail = once(tx, 'mail.queue.dueOchat', () =>
    tx
      .select({
        messageId: ochatNotifications.messageId,
        userId: ochatNotifications.userId,
        mailId: ochatNotifications.mailId,
        emailTo: ochatNotifications.emailTo,
        attempts: ochatNotifications.emailAttempts,
        queuedAt: sql<number>`coalesce(${ochatNotifications.emailQueuedAt}, ${ochatNotifications.emailNextAt})`,
        dueAt: ochatNotifications.emailNextAt,
      })
      .from(ochatNotifications)
      .where(
        and(
          sql`${ochatNotifications.channel} = 'email' and ${ochatNotifications.emailStatus} = 'queued'`,
          lte(ochatNotifications.emailNextAt, sql.placeholder('now')),
        ),
      )
      .orderBy(asc(ochatNotifications.emailNextAt))
      .limit(sql.placeholder('limit'))
      .prepare(),
  )
  const duePartnerMail = once(tx, 'mail.queue.duePartner', () =>
    tx
      .select({
        messageId: ochatEmailSends.messageId,
        channelId: ochatEmailSends.channelId,
        mailId: ochatEmailSends.mailId,
        emailTo: ochatEmailSends.emailTo,
        attempts: ochatEmailSends.emailAttempts,
        queuedAt: ochatEmailSends.emailQueuedAt,
        dueAt: ochatEmailSends.emailNextAt,
      })
      .from(ochatEmailSends)
      .where(
        and(
          sql`${ochatEmailSends.emailStatus} = 'queued'`,
          lte(ochatEmailSends.emailNextAt, sql.placeholder('now')),
        ),
      )
      .orderBy(asc(ochatEmailSends.emailNextAt))
      .limit(sql.placeholder('limit'))
      .prepare(),
  )
  return { record: dueRecordMail, ochat: dueOchatMail, partner: duePartnerMail }
}

type EmailState = {
  emailStatus?: 'queued' | 'sending' | 'sent' | 'failed'
  emailError?: string | null
  emailCode?: number | null
  emailAttempts?: number
  emailNextAt?: number | null
  emailSentAt?: number | null
}

/**
 * Writes a new state on a row still in one of `from` (a row canceled while its email was being
 * written is left canceled). Answers whether it changed. A partner's email carries its message's
 * status along, in the same transaction (ochat/email/follow-send.ts).
 */
function move(
  tx: Tx,
  email: QueuedEmail,
  from: ('queued' | 'sending')[],
  set: EmailState,
  now: number,
): boolean {
  if (email.source === 'partner') {
    const moved =
      tx
        .update(ochatEmailSends)
        .set(set)
        .where(
          and(eq(ochatEmailSends.messageId, email.messageId), inArray(ochatEmailSends.emailStatus, from)),
        )
        .run().changes > 0
    if (moved) messageFollowsSend(tx, { messageId: email.messageId, now })
    return moved
  }
  if (email.source === 'record')
    return (
      tx
        .update(notifications)
        .set(set)
        .where(and(eq(notifications.id, email.id), inArray(notifications.emailStatus, from)))
        .run().changes > 0
    )
  return (
    tx
      .update(ochatNotifications)
      .set(set)
      .where(
        and(
          eq(ochatNotifications.messageId, email.messageId),
          eq(ochatNotifications.userId, email.userId),
          inArray(ochatNotifications.emailStatus, from),
        ),
      )
      .run().changes > 0
  )
}

/**
 * Takes a due row for sending: `queued` → `sending`, only if it is still the row that was read (not
 * canceled, retried to another address or started over meanwhile). A `sending` row is neither picked
 * again nor retried or canceled by people; its outcome moves it on. Answers whether it was taken.
 */
export function claimEmail(tx: Tx, email: QueuedEmail): boolean {
  const sending = { emailStatus: 'sending' } as const
  if (email.source === 'partner')
    return (
      tx
        .update(ochatEmailSends)
        .set(sending)
        .where(
          and(
            eq(ochatEmailSends.messageId, email.messageId),
            eq(ochatEmailSends.emailStatus, 'queued'),
            eq(ochatEmailSends.emailTo, email.emailTo),
            eq(ochatEmailSends.emailAttempts, email.attempts),
            eq(ochatEmailSends.emailQueuedAt, email.queuedAt),
          ),
        )
        .run().changes > 0
    )
  if (email.source === 'record')
    return (
      tx
        .update(notifications)
        .set(sending)
        .where(
          and(
            eq(notifications.id, email.id),
            eq(notifications.emailStatus, 'queued'),
            eq(notifications.emailTo, email.emailTo),
            eq(notifications.emailAttempts, email.attempts),
            sql`coalesce(${notifications.emailQueuedAt}, ${notifications.createdAt}) = ${email.queuedAt}`,
          ),
        )
        .run().changes > 0
    )
  return (
    tx
      .update(ochatNotifications)
      .set(sending)
      .where(
        and(
          eq(ochatNotifications.messageId, email.messageId),
          eq(ochatNotifications.userId, email.userId),
          eq(ochatNotifications.emailStatus, 'queued'),
          eq(ochatNotifications.emailTo, email.emailTo),
          eq(ochatNotifications.emailAttempts, email.attempts),
        ),
      )
      .run().changes > 0
  )
}

/**
 * Rows left `sending` by a process that stopped mid-send go back to the queue. Its server may have
 * accepted some of them: they are sent again, with the same Message-ID (see sender.ts).
 */
export function releaseClaims(tx: Tx): void {
  const queued = { emailStatus: 'queued' } as const
  tx.update(notifications).set(queued).where(eq(notifications.emailStatus, 'sending')).run()
  tx.update(ochatNotifications).set(queued).where(eq(ochatNotifications.emailStatus, 'sending')).run()
  tx.update(ochatEmailSends).set(queued).where(eq(ochatEmailSends.emailStatus, 'sending')).run()
}

/** The server's answer, on the claimed row. */
export function recordOutcome(
  tx: Tx,
  input: { email: QueuedEmail; outcome: SmtpOutcome; now: number },
): boolean {
  const { email, outcome, now } = input
  const attempts = email.attempts + 1
  if (outcome.ok)
    return move(
      tx,
      email,
      ['sending'],
      {
        emailStatus: 'sent',
        emailError: null,
        emailCode: outcome.code,
        emailAttempts: attempts,
        emailNextAt: null,
        emailSentAt: now,
      },
      now,
    )
  const next = outcome.permanent ? null : nextAttemptAt({ attempts, firstAt: email.queuedAt, now })
  return move(
    tx,
    email,
    ['sending'],
    {
      emailStatus: next === null ? 'failed' : 'queued',
      emailError:
        next === null && !outcome.permanent
          ? `${outcome.reason} (gave up after two days of retries)`
          : outcome.reason,
      emailCode: outcome.code,
      emailAttempts: attempts,
      emailNextAt: next,
    },
    now,
  )
}

/** An email that cannot be sent at all (no address, a content that cannot be written): failed, no attempt. */
export function failUnsent(tx: Tx, input: { email: QueuedEmail; reason: string; now: number }): boolean {
  return move(
    tx,
    input.email,
    ['queued', 'sending'],
    { emailStatus: 'failed', emailError: input.reason, emailNextAt: null },
    input.now,
  )
}

export const NO_SERVER_REASON = 'no outgoing mail server is set up'

/** Whether some email waited two days for a mail server: read first, as most kicks find none. */
export function anyWaitingTooLong(tx: Tx, now: number): boolean {
  const before = now - GIVE_UP_AFTER_MS
  const record = tx
    .select({ id: notifications.id })
    .from(notifications)
    .where(
      and(
        eq(notifications.channel, 'email'),
        eq(notifications.emailStatus, 'queued'),
        lte(notifications.emailNextAt, now),
        lte(sql`coalesce(${notifications.emailQueuedAt}, ${notifications.createdAt})`, before),
      ),
    )
    .limit(1)
    .get()
  if (record) return true
  const partner = tx
    .select({ id: ochatEmailSends.messageId })
    .from(ochatEmailSends)
    .where(
      and(
        eq(ochatEmailSends.emailStatus, 'queued'),
        lte(ochatEmailSends.emailNextAt, now),
        lte(ochatEmailSends.emailQueuedAt, before),
      ),
    )
    .limit(1)
    .get()
  if (partner) return true
  return (
    tx
      .select({ id: ochatNotifications.messageId })
      .from(ochatNotifications)
      .where(
        and(
          eq(ochatNotifications.channel, 'email'),
          eq(ochatNotifications.emailStatus, 'queued'),
          lte(ochatNotifications.emailNextAt, now),
          sql`coalesce(${ochatNotifications.emailQueuedAt}, ${ochatNotifications.emailNextAt}) <= ${before}`,
        ),
      )
      .limit(1)
      .get() !== undefined
  )
}

/**
 * With no mail server set up, emails wait; those queued two days ago fail, as retried ones do. Answers
 * the records whose emails changed and the O'Chat messages of email channels that failed, for live
 * events.
 */
export function failWaitingTooLong(
  tx: Tx,
  input: { now: number },
): { records: { recordId: number | null; messageId: number | null }[]; partnerMessages: number[] } {
  const before = input.now - GIVE_UP_AFTER_MS
  const failed = { emailStatus: 'failed', emailError: NO_SERVER_REASON, emailNextAt: null } as const
  const records = tx
    .update(notifications)
    .set(failed)
    .where(
      and(
        eq(notifications.channel, 'email'),
        eq(notifications.emailStatus, 'queued'),
        lte(notifications.emailNextAt, input.now),
        lte(sql`coalesce(${notifications.emailQueuedAt}, ${notifications.createdAt})`, before),
      ),
    )
    .returning({ recordId: notifications.recordId, messageId: notifications.messageId })
    .all()
  tx.update(ochatNotifications)
    .set(failed)
    .where(
      and(
        eq(ochatNotifications.channel, 'email'),
        eq(ochatNotifications.emailStatus, 'queued'),
        lte(ochatNotifications.emailNextAt, input.now),
        sql`coalesce(${ochatNotifications.emailQueuedAt}, ${ochatNotifications.emailNextAt}) <= ${before}`,
      ),
    )
    .run()
  const partnerMessages = tx
    .update(ochatEmailSends)
    .set(failed)
    .where(
      and(
        eq(ochatEmailSends.emailStatus, 'queued'),
        lte(ochatEmailSends.emailNextAt, input.now),
        lte(ochatEmailSends.emailQueuedAt, before),
      ),
    )
    .returning({ messageId: ochatEmailSends.messageId })
    .all()
    .map((row) => row.messageId)
  for (const messageId of partnerMessages) messageFollowsSend(tx, { messageId, now: input.now })
  return { records, partnerMessages }
}
