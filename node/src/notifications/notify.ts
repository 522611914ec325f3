import { eq, getTableName, inArray } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { once } from '../db/raw.ts'
import { notifications, outgoingMail, partners, users } from '../db/schema.ts'
import type { Effects } from '../live/events.ts'
import { fanOutToFollowers } from './fan-out.ts'
import { type Candidate, explicitRecipients, type Recipient } from './recipients.ts'

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

/** Who an email is for: internal users (it links into the node) or contacts (it does not). */
export type MailAudience = 'user' | 'partner'
/** The email of one audience, or null when there is nothing that may be emailed to it. */
export type MailContent = (audience: MailAudience) => { subject: string; body: string } | null

/**
 * Tells the recipients of a message: its followers (by the follower rule, fan-out.ts) and its explicit
 * recipients (mentions, a newly assigned user). Each gets an inbox notification, or an email
 * notification on the message's email for their audience (sent later by the mail queue, never inside
 * this transaction).
 */
export function notifyMessage(
  tx: Tx,
  input: {
    message: {
      id: number
      recordId: number
      internal: boolean
      subtypeKey: string
      /** Followers of the parent subtype (e.g. all updates) are told too. */
      subtypeParentKey?: string | null
      authorPartnerId: number | null
    }
    explicit: { partnerId: number; reason: 'mention' | 'assigned' }[]
    mail: MailContent
    now: number
    effects: Effects
  },
): void {
  const { message } = input
  const explicitIds = input.explicit.map((entry) => entry.partnerId)
  const known = new Map(candidates(tx, explicitIds).map((candidate) => [candidate.partnerId, candidate]))
  const explicit = explicitRecipients({
    explicit: input.explicit.flatMap((entry) => {
      const candidate = known.get(entry.partnerId)
      return candidate ? [{ ...candidate, reason: entry.reason }] : []
    }),
    internal: message.internal,
    authorPartnerId: message.authorPartnerId,
  })
  const mails = new MailGroups(tx, {
    content: input.mail,
    recordId: message.recordId,
    messageId: message.id,
    activityId: null,
    now: input.now,
  })
  const inboxUsers = fanOutToFollowers(tx, {
    recordId: message.recordId,
    messageId: message.id,
    subtypeKey: message.subtypeKey,
    subtypeParentKey: message.subtypeParentKey ?? null,
    internal: message.internal,
    authorPartnerId: message.authorPartnerId,
    exceptPartnerIds: explicitIds,
    mailUser: mails.idFor('user'),
    // Internal messages never reach contacts: no email is written for them.
    mailPartner: message.internal ? null : mails.idFor('partner'),
    now: input.now,
  })
  for (const userId of inboxUsers) input.effects.events.push({ scope: 'user', userId, type: 'inbox.changed' })
  writeNotifications(tx, {
    recipients: explicit,
    mails,
    messageId: message.id,
    activityId: null,
    ...input,
    recordId: message.recordId,
  })
  mails.dropUnused()
}

/** Tells recipients chosen in code (an activity's assignee): the same rows as for a message. */
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
  const mails = new MailGroups(tx, { content: input.mail, ...input })
  writeNotifications(tx, { ...input, mails })
  mails.dropUnused()
}

function writeNotifications(
  tx: Tx,
  input: {
    recipients: Recipient[]
    mails: MailGroups
    recordId: number
    messageId: number | null
    activityId: number | null
    now: number
    effects: Effects
  },
): void {
  const insert = once(tx, 'notify.insert', (sqlite) =>
    sqlite.prepare(
      `insert into ${getTableName(notifications)} (partner_id, user_id, record_id, message_id, activity_id, reason,
         channel, mail_id, email_to, email_status, email_error, created_at)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
  )
  for (const recipient of input.recipients) {
    const email = recipient.channel === 'email'
    const mailId = email ? input.mails.idFor(recipient.userId === null ? 'partner' : 'user') : null
    // Nothing that may be emailed to this audience: no email notification at all.
    if (email && mailId === null) continue
    const address = recipient.email ?? ''
    insert.run(
      recipient.partnerId,
      recipient.userId,
      input.recordId,
      input.messageId,
      input.activityId,
      recipient.reason,
      recipient.channel,
      mailId,
      email ? address : null,
      email ? (address ? 'queued' : 'failed') : null,
      // A contact without an address cannot be emailed: kept, visible as failed, with the reason.
      email && !address ? 'the contact has no email address' : null,
      input.now,
    )
    if (!email && recipient.userId !== null)
      input.effects.events.push({ scope: 'user', userId: recipient.userId, type: 'inbox.changed' })
  }
}

/**
 * A message's emails, one per audience, created when first needed; those nobody ended up on are
 * removed before the transaction commits.
 */
class MailGroups {
  readonly #tx: Tx
  readonly #input: {
    content: MailContent
    recordId: number
    messageId: number | null
    activityId: number | null
    now: number
  }
  readonly #ids = new Map<MailAudience, number | null>()

  constructor(
    tx: Tx,
    input: {
      content: MailContent
      recordId: number
      messageId: number | null
      activityId: number | null
      now: number
    },
  ) {
    this.#tx = tx
    this.#input = input
  }

  idFor(audience: MailAudience): number | null {
    if (this.#ids.has(audience)) return this.#ids.get(audience) ?? null
    const content = this.#input.content(audience)
    const id = content
      ? Number(
          once(this.#tx, 'notify.mail', (sqlite) =>
            sqlite.prepare(
              `insert into ${getTableName(outgoingMail)} (record_id, message_id, activity_id, subject, body, next_attempt_at, created_at)
               values (?, ?, ?, ?, ?, ?, ?)`,
            ),
          ).run(
            this.#input.recordId,
            this.#input.messageId,
            this.#input.activityId,
            content.subject,
            content.body,
            this.#input.now,
            this.#input.now,
          ).lastInsertRowid,
        )
      : null
    this.#ids.set(audience, id)
    return id
  }

  dropUnused(): void {
    const ids = [...this.#ids.values()].filter((id): id is number => id !== null)
    if (ids.length === 0) return
    once(this.#tx, 'notify.dropUnusedMail', (sqlite) =>
      sqlite.prepare(
        `delete from ${getTableName(outgoingMail)}
          where id in (select value from json_each(?))
            and not exists (select 1 from ${getTableName(notifications)} n where n.mail_id = ${getTableName(outgoingMail)}.id)`,
      ),
    ).run(JSON.stringify(ids))
  }
}
