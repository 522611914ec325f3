import { eq, getTableName, inArray } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { once } from '../db/raw.ts'
import { mailContents, partners, users } from '../db/schema.ts'
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
      /** Followers of the parent subtype (e.g. all updates) are told too. */
      subtypeParentKey?: string | null
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
    subtype: {
      key: input.message.subtypeKey,
      internal: input.message.internal,
      parentKey: input.message.subtypeParentKey ?? null,
    },
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
  const contents = new Map<number, { subject: string; body: string }>()
  const told = input.recipients.filter((recipient) => {
    if (recipient.channel === 'inbox') return true
    const content = input.mail(recipient)
    // Nothing that may be emailed (e.g. only restricted fields changed): no email notification at all.
    if (content) contents.set(recipient.partnerId, content)
    return content !== null
  })
  if (told.length === 0) return
  const statements = deliveryStatements(tx)
  // Recipients who get the same email share one stored copy of it.
  const contentIds = new Map<string, number>()
  const contentIdOf = (content: { subject: string; body: string }) => {
    const key = `${content.subject}\u0000${content.body}`
    let id = contentIds.get(key)
    if (id === undefined) {
      id = Number(statements.content.run(content.subject, content.body, input.now).lastInsertRowid)
      contentIds.set(key, id)
    }
    return id
  }
  insertRows(
    tx,
    'notifications',
    NOTIFICATION_COLUMNS,
    told.map((recipient) => [
      recipient.partnerId,
      input.recordId,
      input.messageId,
      input.activityId,
      recipient.reason,
      recipient.channel,
      input.now,
    ]),
  )
  const mails: unknown[][] = []
  for (const recipient of told) {
    if (recipient.channel === 'inbox' && recipient.userId !== null)
      input.effects.events.push({ scope: 'user', userId: recipient.userId, type: 'inbox.changed' })
    const content = contents.get(recipient.partnerId)
    if (recipient.channel !== 'email' || !content) continue
    mails.push([
      recipient.partnerId,
      input.recordId,
      input.messageId,
      contentIdOf(content),
      recipient.email ?? '',
      // A partner without an address cannot be emailed: kept, visible as failed, with the reason.
      recipient.email ? 'queued' : 'failed',
      recipient.email ? null : 'the contact has no email address',
      input.now,
      input.now,
    ])
  }
  insertRows(tx, 'outgoing_mail', MAIL_COLUMNS, mails)
}

const NOTIFICATION_COLUMNS = [
  'partner_id',
  'record_id',
  'message_id',
  'activity_id',
  'reason',
  'channel',
  'created_at',
]
const MAIL_COLUMNS = [
  'partner_id',
  'record_id',
  'message_id',
  'content_id',
  'email_to',
  'status',
  'last_error',
  'next_attempt_at',
  'created_at',
]
/** Rows per insert statement: a post to 50 followers is two statements, not fifty. */
const ROWS_PER_INSERT = 32

/**
 * Inserts many rows with multi-row INSERTs, prepared once per connection and row count. Running one
 * statement per row costs more in calls than in SQLite's own work.
 */
function insertRows(
  tx: Tx,
  table: 'notifications' | 'outgoing_mail',
  columns: string[],
  rows: unknown[][],
): void {
  for (let start = 0; start < rows.length; start += ROWS_PER_INSERT) {
    const chunk = rows.slice(start, start + ROWS_PER_INSERT)
    const statement = once(tx, `insert.${table}.${chunk.length}`, (sqlite) =>
      sqlite.prepare(
        `insert into ${table} (${columns.join(', ')}) values ${chunk
          .map(() => `(${columns.map(() => '?').join(', ')})`)
          .join(', ')}`,
      ),
    )
    statement.run(chunk.flat())
  }
}

function deliveryStatements(tx: Tx) {
  return once(tx, 'notify.deliver', (sqlite) => ({
    content: sqlite.prepare(
      `insert into ${getTableName(mailContents)} (subject, body, created_at) values (?, ?, ?)`,
    ),
  }))
}
