import { sql } from 'drizzle-orm'
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core'

/**
 * Contacts, users, records and their chatter, notifications, attachments and activities: the part of
 * the node's schema (schema.ts) the others build on. Times are epoch milliseconds (`*_at`), dates
 * without a time are ISO `YYYY-MM-DD` text (activity deadlines), JSON columns hold values already
 * validated by a zod schema.
 */
export const ms = (name: string) => integer(name)
export const bool = (name: string) => integer(name, { mode: 'boolean' })
export const json = <T>(name: string) => text(name, { mode: 'json' }).$type<T>()

/** Contacts: every user has one; external partners (customers, vendors) have no user. */
export const partners = sqliteTable(
  'partners',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    name: text('name').notNull(),
    email: text('email'),
    /** The company the contact works for (external partners). */
    companyName: text('company_name'),
    /** True when an internal user owns this partner; set with the user, never by the API. */
    internal: bool('internal').notNull().default(false),
    active: bool('active').notNull().default(true),
    /** Emails to this address that bounced since the last mail that came from it. */
    emailBounces: integer('email_bounces').notNull().default(0),
    /**
     * Made by the mail intake for an unknown sender an alias let in. Such a contact is not yet a
     * "known partner" for other aliases: anyone can make one by writing to an open alias.
     */
    fromMail: bool('from_mail').notNull().default(false),
    createdAt: ms('created_at').notNull(),
  },
  (table) => [
    index('partners_name').on(table.name),
    index('partners_email').on(table.email),
    // Incoming mail finds its sender's contact by address in any case.
    index('partners_email_lower').on(sql`lower(${table.email})`),
  ],
)

export const users = sqliteTable('users', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  login: text('login').notNull().unique(),
  /** scrypt$N$r$p$salt$hash, all base64url. */
  passwordHash: text('password_hash').notNull(),
  /** admin | user */
  role: text('role').$type<'admin' | 'user'>().notNull(),
  partnerId: integer('partner_id')
    .notNull()
    .unique()
    .references(() => partners.id),
  /** inbox | email: how this user is told about new messages. */
  notification: text('notification').$type<'inbox' | 'email'>().notNull().default('inbox'),
  /** IANA time zone; activity states are computed in it. */
  timeZone: text('time_zone').notNull().default('UTC'),
  /** A daily digest email of what happened on the user's records, at `digestHour` in their time zone. */
  digest: bool('digest').notNull().default(false),
  digestHour: integer('digest_hour').notNull().default(8),
  /** The local date (YYYY-MM-DD) of the last digest queued, so a day gets at most one. */
  digestSentOn: text('digest_sent_on'),
  /** Secret in the user's iCal feed URL; rotating it revokes old subscriptions. */
  icalToken: text('ical_token').notNull(),
  active: bool('active').notNull().default(true),
  createdAt: ms('created_at').notNull(),
})

/** UI sessions. The cookie carries the token; only its SHA-256 is stored. */
export const sessions = sqliteTable(
  'sessions',
  {
    tokenHash: text('token_hash').primaryKey(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** Sent back by the UI in X-CSRF-Token on every state-changing request. */
    csrfToken: text('csrf_token').notNull(),
    createdAt: ms('created_at').notNull(),
    lastSeenAt: ms('last_seen_at').notNull(),
  },
  (table) => [index('sessions_user').on(table.userId)],
)

/** Integrator keys: act as their user, limited to their scopes. Only the SHA-256 of the secret is kept. */
export const apiKeys = sqliteTable('api_keys', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  userId: integer('user_id')
    .notNull()
    .references(() => users.id, { onDelete: 'cascade' }),
  name: text('name').notNull(),
  /** First characters of the key, shown in lists so people can tell keys apart. */
  prefix: text('prefix').notNull(),
  secretHash: text('secret_hash').notNull().unique(),
  scopes: json<string[]>('scopes').notNull(),
  createdAt: ms('created_at').notNull(),
  lastUsedAt: ms('last_used_at'),
  revokedAt: ms('revoked_at'),
})

/**
 * Failed and throttled logins, shown to administrators; never the password. Kept 30 days and at most
 * 100,000 rows (auth/login-attempts.ts), so a guessing run cannot fill the disk.
 */
export const loginAttempts = sqliteTable(
  'login_attempts',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    /** The login name tried, as typed (it may name no user). */
    login: text('login').notNull(),
    /** The client's address, as the trusted proxies report it (NODE_TRUST_PROXY). */
    address: text('address').notNull(),
    userAgent: text('user_agent'),
    /** True: refused with 429 before the password was checked; false: a wrong password. */
    throttled: bool('throttled').notNull(),
    at: ms('at').notNull(),
  },
  (table) => [index('login_attempts_at').on(table.at)],
)

/** Secrets the node makes for itself on first use (the key signing device cookies), by name. */
export const nodeSecrets = sqliteTable('node_secrets', {
  name: text('name').primaryKey(),
  value: text('value').notNull(),
  createdAt: ms('created_at').notNull(),
})

/** Business models: the built-in ones (lead, sale order…) and those integrators define. */
export const models = sqliteTable('models', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  /** Technical name, e.g. `lead`, `sale_order`, `x_contract`. */
  name: text('name').notNull().unique(),
  label: text('label').notNull(),
  builtin: bool('builtin').notNull().default(false),
  /** What a user (not an admin) may see: every record, or only their own (created, assigned or followed). */
  userAccess: text('user_access').$type<'all' | 'own'>().notNull().default('all'),
  createdAt: ms('created_at').notNull(),
})

export type FieldOptions = {
  /** selection: the choices, in order. */
  choices?: { value: string; label: string }[]
  /** monetary: ISO currency; the node's default when absent. */
  currency?: string
}

export const modelFields = sqliteTable(
  'model_fields',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    modelId: integer('model_id')
      .notNull()
      .references(() => models.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    label: text('label').notNull(),
    /** char | text | integer | float | monetary | boolean | date | datetime | selection | user | partner */
    type: text('type').notNull(),
    required: bool('required').notNull().default(false),
    /** Tracked fields log old → new on change; lower sequences are listed first. Null: not tracked. */
    trackingSequence: integer('tracking_sequence'),
    /** The record's "assigned to" user: auto-followed and notified when set. */
    assignee: bool('assignee').notNull().default(false),
    /** Shown to internal users only, and never written into an email. */
    restricted: bool('restricted').notNull().default(false),
    options: json<FieldOptions>('options').notNull().default({}),
    position: integer('position').notNull(),
  },
  (table) => [uniqueIndex('model_fields_name').on(table.modelId, table.name)],
)

export const records = sqliteTable(
  'records',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    modelId: integer('model_id')
      .notNull()
      .references(() => models.id),
    /** Display name, copied from the `name` field. */
    name: text('name').notNull(),
    values: json<Record<string, unknown>>('values').notNull(),
    /** Optimistic concurrency: every write must name the version it read. */
    version: integer('version').notNull().default(1),
    createdBy: integer('created_by').references(() => users.id),
    /** Value of the model's assignee field, copied here so "own records" stays one indexed lookup. */
    assigneeId: integer('assignee_id').references(() => users.id),
    /** Archived: out of the model's list and of time-based rules, kept with its chatter; null: active. */
    archivedAt: ms('archived_at'),
    createdAt: ms('created_at').notNull(),
    updatedAt: ms('updated_at').notNull(),
  },
  (table) => [index('records_model').on(table.modelId, table.id)],
)

/** Message subtypes: the subtype, not the author, decides who a message may reach. */
export const subtypes = sqliteTable('subtypes', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  /** comment | note | activities | tracking, and per model `<model>.stage` ("Stage Changed") */
  key: text('key').notNull().unique(),
  /** Null: every model. Otherwise the subtype exists only on that model's records. */
  modelId: integer('model_id').references(() => models.id, { onDelete: 'cascade' }),
  /** Following the parent (e.g. `tracking`, all updates) includes this one (e.g. `lead.stage`). */
  parentKey: text('parent_key'),
  name: text('name').notNull(),
  /** Internal subtypes never reach external partners. */
  internal: bool('internal').notNull(),
  /** Given to a new follower choosing "all messages" (externals get the non-internal ones only). */
  isDefault: bool('is_default').notNull(),
  sequence: integer('sequence').notNull(),
})

export const messages = sqliteTable(
  'messages',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    recordId: integer('record_id')
      .notNull()
      .references(() => records.id, { onDelete: 'cascade' }),
    /** comment (people) | notification (record created, activity done) | tracking (field changes) */
    type: text('type').$type<'comment' | 'notification' | 'tracking'>().notNull(),
    /** How the chatter filters it: message (sent), note (logged), tracking (changes, creation), activity (done). */
    kind: text('kind').$type<'message' | 'note' | 'tracking' | 'activity'>().notNull(),
    subtypeId: integer('subtype_id')
      .notNull()
      .references(() => subtypes.id),
    /** Copied from the subtype at posting time and never changed: a message cannot become external. */
    internal: bool('internal').notNull(),
    authorPartnerId: integer('author_partner_id').references(() => partners.id),
    /** Sanitized HTML; empty once deleted. */
    body: text('body').notNull(),
    /** For activity-done messages: the activity type, for reporting. */
    activityTypeId: integer('activity_type_id'),
    /** The message this one answers (an email reply), for In-Reply-To and for keeping replies to notes internal. */
    parentId: integer('parent_id'),
    /**
     * The RFC 5322 Message-ID, without angle brackets: ours for a message the node emailed, the
     * sender's for one that came in by email. Unique, so a mail received twice is posted once.
     */
    emailMessageId: text('email_message_id'),
    /** A message that came in by email: the sender's address. */
    emailFrom: text('email_from'),
    createdAt: ms('created_at').notNull(),
    editedAt: ms('edited_at'),
    deletedAt: ms('deleted_at'),
  },
  (table) => [
    index('messages_record').on(table.recordId, table.id),
    index('messages_record_kind').on(table.recordId, table.kind, table.id),
    uniqueIndex('messages_email_message_id')
      .on(table.emailMessageId)
      .where(sql`${table.emailMessageId} is not null`),
  ],
)

/** Earlier bodies of an edited message, oldest first. */
export const messageVersions = sqliteTable('message_versions', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  messageId: integer('message_id')
    .notNull()
    .references(() => messages.id, { onDelete: 'cascade' }),
  body: text('body').notNull(),
  /** Who replaced this body, and when. */
  replacedBy: integer('replaced_by').references(() => users.id),
  replacedAt: ms('replaced_at').notNull(),
})

export const trackingValues = sqliteTable(
  'tracking_values',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    messageId: integer('message_id')
      .notNull()
      .references(() => messages.id, { onDelete: 'cascade' }),
    field: text('field').notNull(),
    /** The field's label when the change happened (kept if the field is renamed or removed). */
    fieldLabel: text('field_label').notNull(),
    fieldType: text('field_type').notNull(),
    /** Values as they were displayed: labels, names, formatted amounts and dates. */
    oldDisplay: text('old_display'),
    newDisplay: text('new_display'),
    oldValue: json<unknown>('old_value'),
    newValue: json<unknown>('new_value'),
    restricted: bool('restricted').notNull(),
    sequence: integer('sequence').notNull(),
  },
  (table) => [index('tracking_values_message').on(table.messageId)],
)

export const messageMentions = sqliteTable(
  'message_mentions',
  {
    messageId: integer('message_id')
      .notNull()
      .references(() => messages.id, { onDelete: 'cascade' }),
    partnerId: integer('partner_id')
      .notNull()
      .references(() => partners.id),
  },
  (table) => [primaryKey({ columns: [table.messageId, table.partnerId] })],
)

export const followers = sqliteTable(
  'followers',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    recordId: integer('record_id')
      .notNull()
      .references(() => records.id, { onDelete: 'cascade' }),
    partnerId: integer('partner_id')
      .notNull()
      .references(() => partners.id),
    /** all | comments | custom (the subtypes listed) | none (listed, but told nothing) */
    subscription: text('subscription').$type<'all' | 'comments' | 'custom' | 'none'>().notNull(),
    /** Subtype keys, for `custom`. */
    subtypes: json<string[]>('subtypes').notNull().default([]),
    createdAt: ms('created_at').notNull(),
  },
  (table) => [
    uniqueIndex('followers_record_partner').on(table.recordId, table.partnerId),
    index('followers_partner').on(table.partnerId),
  ],
)

/** One row per recipient of a message (or of an assignment): inbox or email, and its state. */
export const notifications = sqliteTable(
  'notifications',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    // No foreign keys here, on purpose: a post to 50 followers writes 50 rows, and checking four
    // parents per row is a large share of a post's cost (docs/performance.md). The rows are written
    // only by notifications/, from rows read or written in the same transaction, and removed with
    // their record (records/repository.ts deleteRecordRows), which is the only way messages and
    // activities are deleted.
    partnerId: integer('partner_id').notNull(),
    /** The record it is about; null only for a daily digest, which covers several. */
    recordId: integer('record_id'),
    messageId: integer('message_id'),
    activityId: integer('activity_id'),
    /** message | mention | assigned (record) | activity (assigned an activity) | digest (email only) */
    reason: text('reason').$type<'message' | 'mention' | 'assigned' | 'activity' | 'digest'>().notNull(),
    channel: text('channel').$type<'inbox' | 'email'>().notNull(),
    /** The recipient's user when told (null for a contact without one), for live events. */
    userId: integer('user_id'),
    /** Email channel: the email this recipient gets, the address, and how sending it went. */
    mailId: integer('mail_id'),
    emailTo: text('email_to'),
    /**
     * queued | sent | failed | bounced | canceled (email channel only). queued → sent when the SMTP
     * server accepted it; a temporary refusal keeps it queued with a later `emailNextAt`; a permanent
     * one, or two days of temporary ones, makes it failed; a bounce report later makes a sent one bounced.
     */
    emailStatus: text('email_status'),
    /** The reason, as people read it: the SMTP server's answer, or why it was never sent. */
    emailError: text('email_error'),
    /** The SMTP reply code of the last answer (250, 451, 550…), when there was one. */
    emailCode: integer('email_code'),
    emailAttempts: integer('email_attempts').notNull().default(0),
    /**
     * When this round of sending began: the creation, or the last manual Retry. Temporary refusals
     * are retried for two days from it.
     */
    emailQueuedAt: ms('email_queued_at'),
    /** When a queued email is due: its creation, then each retry. */
    emailNextAt: ms('email_next_at'),
    emailSentAt: ms('email_sent_at'),
    readAt: ms('read_at'),
    createdAt: ms('created_at').notNull(),
  },
  (table) => [
    // Only inbox rows are read by partner, so email rows stay out of this index. It is the only index
    // a post writes at each recipient's place (one insert per inbox recipient, scattered): the inbox
    // newest first, the unread ones by skipping read entries, and unread counters by record, all
    // answered from the index alone. Queries must spell the condition literally (channel = 'inbox')
    // for SQLite to use it.
    index('notifications_inbox')
      .on(table.partnerId, table.id, table.readAt, table.recordId)
      .where(sql`${table.channel} = 'inbox'`),
    index('notifications_record').on(table.recordId),
    index('notifications_mail').on(table.mailId).where(sql`${table.mailId} is not null`),
    // A user's last digest, which starts the next one's window.
    index('notifications_digest').on(table.partnerId, table.createdAt).where(sql`${table.reason} = 'digest'`),
    // Failed and bounced emails, few among all: the digest lists a user's.
    index('notifications_email_failed')
      .on(table.id)
      .where(sql`${table.channel} = 'email' and ${table.emailStatus} in ('failed', 'bounced')`),
    // The mail sender's queue: queued emails by when they are due.
    index('notifications_email_due')
      .on(table.emailNextAt)
      .where(sql`${table.channel} = 'email' and ${table.emailStatus} = 'queued'`),
  ],
)

/** Uploaded files. The bytes live once per SHA-256 under the data directory. */
export const attachments = sqliteTable(
  'attachments',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    sha256: text('sha256').notNull(),
    size: integer('size').notNull(),
    fileName: text('file_name').notNull(),
    mimeType: text('mime_type').notNull(),
    recordId: integer('record_id').references(() => records.id, { onDelete: 'cascade' }),
    messageId: integer('message_id').references(() => messages.id, { onDelete: 'set null' }),
    activityId: integer('activity_id'),
    uploadedBy: integer('uploaded_by').references(() => users.id),
    createdAt: ms('created_at').notNull(),
  },
  (table) => [index('attachments_message').on(table.messageId), index('attachments_sha').on(table.sha256)],
)

export const activityTypes = sqliteTable('activity_types', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  key: text('key').notNull().unique(),
  name: text('name').notNull(),
  icon: text('icon').notNull(),
  /** default | phonecall | meeting | upload | signature */
  category: text('category').notNull().default('default'),
  delayCount: integer('delay_count').notNull().default(0),
  delayUnit: text('delay_unit').$type<'days' | 'weeks' | 'months'>().notNull().default('days'),
  /** previous_activity: after the previous deadline; current_date: after completion. */
  delayFrom: text('delay_from')
    .$type<'previous_activity' | 'current_date'>()
    .notNull()
    .default('previous_activity'),
  /** none | suggest | trigger */
  chaining: text('chaining').$type<'none' | 'suggest' | 'trigger'>().notNull().default('none'),
  /** Type keys suggested (suggest) or the one created (trigger) when an activity of this type is done. */
  nextTypeKeys: json<string[]>('next_type_keys').notNull().default([]),
  defaultUserId: integer('default_user_id').references(() => users.id),
  defaultSummary: text('default_summary'),
  active: bool('active').notNull().default(true),
  sequence: integer('sequence').notNull().default(10),
})

export const activities = sqliteTable(
  'activities',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    recordId: integer('record_id')
      .notNull()
      .references(() => records.id, { onDelete: 'cascade' }),
    typeId: integer('type_id')
      .notNull()
      .references(() => activityTypes.id),
    summary: text('summary'),
    /** Sanitized HTML. */
    note: text('note').notNull().default(''),
    /** A date, no time: `YYYY-MM-DD`; its state is computed in the assignee's time zone. */
    deadline: text('deadline').notNull(),
    /** Calls and meetings may carry a start time (epoch ms) and a duration, for the iCal feed. */
    startsAt: ms('starts_at'),
    durationMinutes: integer('duration_minutes'),
    assigneeId: integer('assignee_id')
      .notNull()
      .references(() => users.id),
    createdBy: integer('created_by').references(() => users.id),
    /** open | done | canceled: done and canceled ones are kept for reporting. */
    status: text('status').$type<'open' | 'done' | 'canceled'>().notNull().default('open'),
    feedback: text('feedback'),
    doneAt: ms('done_at'),
    doneBy: integer('done_by').references(() => users.id),
    createdAt: ms('created_at').notNull(),
    updatedAt: ms('updated_at').notNull(),
  },
  (table) => [
    index('activities_assignee').on(table.assigneeId, table.status, table.deadline),
    index('activities_record').on(table.recordId, table.status),
  ],
)

/** Answers to POSTs sent with an Idempotency-Key, replayed for a repeat within 24 h. */
export const idempotencyKeys = sqliteTable(
  'idempotency_keys',
  {
    /** Who sent it (user id), so two callers cannot collide or read each other's answers. */
    userId: integer('user_id').notNull(),
    key: text('key').notNull(),
    /** SHA-256 of method, path and body: the same key with another request is refused. */
    requestHash: text('request_hash').notNull(),
    /** Null while the first request is being processed. */
    status: integer('status'),
    response: text('response'),
    createdAt: ms('created_at').notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.userId, table.key] }),
    index('idempotency_created').on(table.createdAt),
  ],
)
