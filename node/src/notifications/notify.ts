import type { Tx } from '../db/client.ts'
import type { Effects } from '../live/events.ts'
import { fanOutToFollowers } from './fan-out.ts'
import { explicitRecipients, type Recipient } from './recipients.ts'
import { candidates, dropUnusedMails, insertNotification, insertOutgoingMail } from './repository.ts'

/** The subtype of a logged note (models/seed.ts). */
const NOTE_SUBTYPE = 'note'

/** Who an email is for: internal users (it links into the node) or contacts (it does not). */
export type MailAudience = 'user' | 'partner'
/** The email of one audience, or null when there is nothing that may be emailed to it. */
export type MailContent = (audience: MailAudience) => { subject: string; body: string } | null

/**
 * Tells the recipients of a message: its followers (by the follower rule, fan-out.ts) and its explicit
 * recipients (mentions, a newly assigned user). Each gets an inbox notification, or an email
 * notification on the message's email for their audience (sent later by the mail queue, never inside
 * this transaction). A log note is never emailed: its mentioned colleagues and the followers of the
 * Notes subtype get it in their inbox, even those who chose email for everything else.
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
  const note = message.subtypeKey === NOTE_SUBTYPE
  const explicitIds = input.explicit.map((entry) => entry.partnerId)
  const known = new Map(candidates(tx, explicitIds).map((candidate) => [candidate.partnerId, candidate]))
  const explicit = explicitRecipients({
    explicit: input.explicit.flatMap((entry) => {
      const candidate = known.get(entry.partnerId)
      return candidate ? [{ ...candidate, reason: entry.reason }] : []
    }),
    internal: message.internal,
    inboxOnly: note,
    authorPartnerId: message.authorPartnerId,
  })
  const mails = new MailGroups(tx, {
    content: note ? () => null : input.mail,
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
    note,
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
  for (const recipient of input.recipients) {
    const email = recipient.channel === 'email'
    const mailId = email ? input.mails.idFor(recipient.userId === null ? 'partner' : 'user') : null
    // Nothing that may be emailed to this audience: no email notification at all.
    if (email && mailId === null) continue
    const address = recipient.email ?? ''
    insertNotification(tx, {
      partnerId: recipient.partnerId,
      userId: recipient.userId,
      recordId: input.recordId,
      messageId: input.messageId,
      activityId: input.activityId,
      reason: recipient.reason,
      channel: recipient.channel,
      mailId,
      emailTo: email ? address : null,
      emailStatus: email ? (address ? 'queued' : 'failed') : null,
      // A contact without an address cannot be emailed: kept, visible as failed, with the reason.
      emailError: email && !address ? 'the contact has no email address' : null,
      createdAt: input.now,
    })
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
      ? insertOutgoingMail(this.#tx, {
          kind: this.#input.messageId === null ? 'activity' : 'message',
          recordId: this.#input.recordId,
          messageId: this.#input.messageId,
          activityId: this.#input.activityId,
          subject: content.subject,
          body: content.body,
          now: this.#input.now,
        })
      : null
    this.#ids.set(audience, id)
    return id
  }

  dropUnused(): void {
    const ids = [...this.#ids.values()].filter((id): id is number => id !== null)
    if (ids.length === 0) return
    dropUnusedMails(this.#tx, ids)
  }
}
