import { sql } from 'drizzle-orm'
import { index, integer, sqliteTable, sqliteView, text } from 'drizzle-orm/sqlite-core'
import { bool, json, models, ms, notifications, records } from './core-schema.ts'

/**
 * Email: what is sent (its content; each recipient's sending state is on its notification), the
 * outgoing server and mail domain, the aliases mail comes in by, and the log of what came in.
 */

/**
 * The content of an email, shared by its recipients: a message has at most two (with a link into the
 * node for internal users, without for contacts). Each recipient, with its address and its own
 * sending state, is a `notifications` (or `ochat_notifications`) row pointing here; the mail sender
 * sends one email per recipient, each with its own reply address and unfollow link.
 */
export const outgoingMail = sqliteTable(
  'outgoing_mail',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    recordId: integer('record_id'),
    messageId: integer('message_id'),
    activityId: integer('activity_id'),
    /** message | activity | ochat | digest: which template made it. */
    kind: text('kind').$type<'message' | 'activity' | 'ochat' | 'digest'>().notNull().default('message'),
    subject: text('subject').notNull(),
    /** Sanitized HTML, with restricted fields already left out. */
    body: text('body').notNull(),
    /** The RFC 5322 Message-ID of an email with no message behind it (an assignment, a digest). */
    emailMessageId: text('email_message_id'),
    createdAt: ms('created_at').notNull(),
  },
  (table) => [index('outgoing_mail_record').on(table.recordId)],
)

/**
 * The outgoing SMTP server and mail domain an administrator set in the UI (one row, id 1). The
 * environment (NODE_SMTP_URL, NODE_MAIL_FROM, NODE_MAIL_DOMAIN) wins over it where set.
 */
export const mailSettings = sqliteTable('mail_settings', {
  id: integer('id').primaryKey(),
  smtpHost: text('smtp_host'),
  smtpPort: integer('smtp_port'),
  /** starttls (upgrade on the plain port, required) | tls (TLS from the start) | none (tests, local relays) */
  smtpSecurity: text('smtp_security').$type<'starttls' | 'tls' | 'none'>().notNull().default('starttls'),
  smtpUser: text('smtp_user'),
  smtpPassword: text('smtp_password'),
  /** The From address of every email, e.g. `notifications@example.com`. */
  fromAddress: text('from_address'),
  /** The domain of aliases, reply and bounce addresses, e.g. `example.com`. */
  mailDomain: text('mail_domain'),
  updatedAt: ms('updated_at').notNull(),
  updatedBy: integer('updated_by'),
})

/**
 * Addresses mail comes in at, as local parts of the mail domain (`sales`, `support`). A model alias
 * creates a record of its model from each new conversation, with `defaults` as its first values; a
 * record alias (`recordId` set) posts everything into that record. Who may write is the contact policy.
 */
export const mailAliases = sqliteTable('mail_aliases', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  /** Local part, lower case, an RFC 5322 dot-atom; never `reply`, `bounce` or the catchall's. */
  name: text('name').notNull().unique(),
  modelId: integer('model_id')
    .notNull()
    .references(() => models.id, { onDelete: 'cascade' }),
  recordId: integer('record_id').references(() => records.id, { onDelete: 'cascade' }),
  /** Field values of the records it creates, validated against the model when saved. */
  defaults: json<Record<string, unknown>>('defaults').notNull().default({}),
  /** everyone | partners (known addresses) | followers (of the target record) | internal (users) */
  contactPolicy: text('contact_policy')
    .$type<'everyone' | 'partners' | 'followers' | 'internal'>()
    .notNull()
    .default('partners'),
  active: bool('active').notNull().default(true),
  createdAt: ms('created_at').notNull(),
  createdBy: integer('created_by'),
})

/**
 * Every mail received, whatever became of it: the duplicate check (by Message-ID), the loop guard (by
 * sender and time), and the administrator's list of mail that could not be taken in, whose raw
 * message is kept for 14 days (`rawFile`, under the data directory) and then removed.
 */
export const incomingMails = sqliteTable(
  'incoming_mails',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    /** The Message-ID header, without angle brackets; null when the mail had none. */
    emailMessageId: text('email_message_id'),
    /** The sender's address, lower case (From, else the envelope sender); null when it had neither. */
    sender: text('sender'),
    subject: text('subject'),
    /** smtp | http | cli */
    via: text('via').$type<'smtp' | 'http' | 'cli'>().notNull(),
    /**
     * posted (to an existing record) | created (a new record) | bounce (a delivery report, applied) |
     * duplicate | auto (an auto-reply or bulk mail, dropped) | loop (the loop guard dropped it) |
     * refused (policy or unroutable: bounced back to the sender) | error (could not be read)
     */
    outcome: text('outcome')
      .$type<'posted' | 'created' | 'bounce' | 'duplicate' | 'auto' | 'loop' | 'refused' | 'error'>()
      .notNull(),
    /** Why, as an administrator reads it. */
    reason: text('reason'),
    recordId: integer('record_id'),
    messageId: integer('message_id'),
    aliasId: integer('alias_id'),
    size: integer('size').notNull(),
    /** The raw message, kept for refused and unreadable mail; removed when it expires. */
    rawFile: text('raw_file'),
    rawExpiresAt: ms('raw_expires_at'),
    receivedAt: ms('received_at').notNull(),
  },
  (table) => [
    index('incoming_mails_message_id').on(table.emailMessageId),
    index('incoming_mails_sender').on(table.sender, table.receivedAt),
    index('incoming_mails_outcome').on(table.outcome, table.id),
    index('incoming_mails_raw_expiry').on(table.rawExpiresAt).where(sql`${table.rawFile} is not null`),
  ],
)

/** One row per email recipient: who, at which address, with what, and how it went. */
export const emailNotifications = sqliteView('email_notifications', {
  id: integer('id').notNull(),
  mailId: integer('mail_id').notNull(),
  partnerId: integer('partner_id').notNull(),
  recordId: integer('record_id'),
  messageId: integer('message_id'),
  activityId: integer('activity_id'),
  emailTo: text('email_to'),
  status: text('status'),
  lastError: text('last_error'),
  attempts: integer('attempts').notNull(),
  code: integer('code'),
  sentAt: ms('sent_at'),
  subject: text('subject').notNull(),
  body: text('body').notNull(),
  createdAt: ms('created_at').notNull(),
}).as(
  sql`select n.id, n.mail_id, n.partner_id, n.record_id, n.message_id, n.activity_id, n.email_to,
             n.email_status as status, n.email_error as last_error, n.email_attempts as attempts,
             n.email_code as code, n.email_sent_at as sent_at, m.subject, m.body, n.created_at
        from ${notifications} n join ${outgoingMail} m on m.id = n.mail_id`,
)
