import type { ConnectionView, InstancePublicKeys, RecordRef, SignedRelayKeySet } from '@ochat/shared-protocol'
import { sql } from 'drizzle-orm'
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core'

/**
 * O'Chat on the node: this instance's registration with a relay, connections with other
 * companies, one channel per connection, messages with their delivery status, files and bulk sends.
 * Re-exported by schema.ts, so there is still one schema and one migration history.
 */
const ms = (name: string) => integer(name)
const json = <T>(name: string) => text(name, { mode: 'json' }).$type<T>()

/**
 * This node's identity with its relay: one row (id 1). Secret keys are sealed with a key derived from
 * the operator's secret (NODE_OCHAT_SECRET), never stored in the clear.
 */
export const ochatIdentity = sqliteTable('ochat_identity', {
  id: integer('id').primaryKey(),
  relayUrl: text('relay_url').notNull(),
  relayId: text('relay_id').notNull(),
  relayName: text('relay_name').notNull(),
  /** The relay's signing keys as pinned at registration, updated only through a signed key set. */
  pinnedKeySet: json<SignedRelayKeySet>('pinned_key_set').notNull(),
  instanceId: text('instance_id').notNull(),
  name: text('name').notNull(),
  identityPublicKey: text('identity_public_key').notNull(),
  encryptionPublicKey: text('encryption_public_key').notNull(),
  /** `v1.<salt>.<nonce>.<ciphertext>`, base64url: both secret keys sealed (identity/keystore.ts). */
  sealedSecretKeys: text('sealed_secret_keys').notNull(),
  /**
   * A key rotation under way, sealed the same way: written before the relay is asked, cleared when the
   * relay's answer is known. Left here by a crash or a lost answer, it is settled by asking the relay
   * which keys it accepts (identity/rotate-keys.ts), so a node never loses the keys the relay holds.
   */
  pendingSecretKeys: text('pending_secret_keys'),
  /**
   * The keys a rotation replaced, sealed the same way, kept until `previous_keys_until` (7 days):
   * peers seal to the keys they pinned until their next connection sync, so what they sent meanwhile
   * can still be opened.
   */
  previousSecretKeys: text('previous_secret_keys'),
  previousKeysUntil: ms('previous_keys_until'),
  webhookUrl: text('webhook_url'),
  /** valid | suspended | unreachable: what the relay said last time it was asked. */
  relayStatus: text('relay_status').$type<'valid' | 'suspended' | 'unreachable'>().notNull(),
  lastError: text('last_error'),
  /** Last time the relay answered. */
  lastContactAt: ms('last_contact_at'),
  registeredAt: ms('registered_at').notNull(),
})

/**
 * Connections with other instances, as the relay reports them, plus what only this side knows: the
 * contact (partner) the other company is filed under, and the peer keys this side pinned. A key
 * change on the relay (`peer_*_key` differ from `pinned_*`) pauses the channel until an admin verifies
 * the new safety code: a key change is never silent.
 *
 * A partner company without a node is a connection too (`transport` email): an admin adds it here,
 * the relay never hears of it, its channel goes by plain email to `email_address`. It has no peer
 * instance and no keys (empty), is accepted from the start, and no relay view can change it.
 */
export const ochatConnections = sqliteTable(
  'ochat_connections',
  {
    /** The relay's connection id. */
    id: text('id').primaryKey(),
    peerInstanceId: text('peer_instance_id').notNull(),
    peerName: text('peer_name').notNull(),
    direction: text('direction').$type<'outgoing' | 'incoming'>().notNull(),
    state: text('state').$type<ConnectionView['state']>().notNull(),
    message: text('message').notNull(),
    history: json<ConnectionView['history']>('history').notNull(),
    contactPartnerId: integer('contact_partner_id'),
    /** The peer's keys as the relay reports them now. */
    peerKeys: json<InstancePublicKeys>('peer_keys').notNull(),
    /** The keys this side trusts: the first ones seen, then each set an admin verified. */
    pinnedKeys: json<InstancePublicKeys>('pinned_keys').notNull(),
    /** Set when the relay reported keys that differ from the pinned ones; cleared on verification. */
    keyChangedAt: ms('key_changed_at'),
    verifiedAt: ms('verified_at'),
    verifiedBy: integer('verified_by'),
    createdAt: ms('created_at').notNull(),
    updatedAt: ms('updated_at').notNull(),
    /** Last time the relay's view of it was read. */
    syncedAt: ms('synced_at').notNull(),
    /** relay: sealed envelopes through the relay; email: plain email to a company without a node. */
    transport: text('transport').$type<'relay' | 'email'>().notNull().default('relay'),
    /** Email transport: the partner's address, lower case; one connection per address. */
    emailAddress: text('email_address'),
  },
  (table) => [
    index('ochat_connections_peer').on(table.peerInstanceId),
    uniqueIndex('ochat_connections_email').on(table.emailAddress),
  ],
)

/** One channel per accepted connection; the list is ordered by last activity. */
export const ochatChannels = sqliteTable(
  'ochat_channels',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    connectionId: text('connection_id').notNull().unique(),
    lastActivityAt: ms('last_activity_at').notNull(),
    createdAt: ms('created_at').notNull(),
  },
  (table) => [index('ochat_channels_activity').on(table.lastActivityAt)],
)

/** Who sees a channel and is told about its new messages (everyone active when it was created). */
export const ochatChannelMembers = sqliteTable(
  'ochat_channel_members',
  {
    channelId: integer('channel_id').notNull(),
    userId: integer('user_id').notNull(),
    addedAt: ms('added_at').notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.channelId, table.userId] }),
    index('ochat_channel_members_user').on(table.userId),
  ],
)

/** `bounced`: an email channel's message whose email came back as undeliverable (a delivery report). */
export type OchatStatus =
  | 'pending'
  | 'sent'
  | 'delivered'
  | 'read'
  | 'retrying'
  | 'failed'
  | 'bounced'
  | 'received'

/**
 * Messages of a channel, both ways. Outgoing ones carry their delivery status and, until the relay
 * stored them, their sealed envelope (the outbox); incoming ones are deduplicated by envelope id
 * within their channel (one channel per peer), so the WebSocket and webhook paths store each once.
 */
export const ochatMessages = sqliteTable(
  'ochat_messages',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    channelId: integer('channel_id').notNull(),
    direction: text('direction').$type<'out' | 'in'>().notNull(),
    envelopeId: text('envelope_id').notNull(),
    /** Outgoing: the user who wrote it. */
    authorUserId: integer('author_user_id'),
    /** As shown: the writer's name and company (the sender's, for incoming messages). */
    authorName: text('author_name').notNull(),
    authorCompany: text('author_company').notNull(),
    /** Sanitized HTML (incoming bodies are sanitized on arrival, before they are stored). */
    html: text('html').notNull(),
    /** Our record this message is about (record-bound threads). */
    recordId: integer('record_id'),
    /** The peer's record, as they named it. */
    peerRecord: json<RecordRef>('peer_record'),
    inReplyTo: text('in_reply_to'),
    bulkId: text('bulk_id'),
    /** Outgoing: pending → sent → delivered → read, or retrying / failed. Incoming: received. */
    status: text('status').$type<OchatStatus>().notNull(),
    /** The relay's per-connection sequence number. */
    seq: integer('seq'),
    createdAt: ms('created_at').notNull(),
    sentAt: ms('sent_at'),
    deliveredAt: ms('delivered_at'),
    readAt: ms('read_at'),
    failedAt: ms('failed_at'),
    /** Retrying: when the next attempt is due, and why the last one failed; Failed: why. */
    nextAttemptAt: ms('next_attempt_at'),
    statusReason: text('status_reason'),
    retryingAt: ms('retrying_at'),
    /**
     * Outbox (outgoing, until the relay stored it): when the next node → relay attempt is due, and how
     * many were made. The envelope is sealed at each attempt with the keys pinned then, under the same
     * envelope id, so the relay and the recipient drop a repeat.
     */
    outboxAttempts: integer('outbox_attempts').notNull().default(0),
    outboxDueAt: ms('outbox_due_at'),
    /** Incoming: when a person here first opened it, and whether its Read receipt left. */
    openedAt: ms('opened_at'),
    readReceipt: text('read_receipt').$type<'due' | 'sent'>(),
    /**
     * Email channels: the RFC 5322 Message-ID (no angle brackets) of the email this message went out
     * as (ours) or came in as (theirs), so later emails thread and replies find their channel.
     */
    emailMessageId: text('email_message_id'),
  },
  (table) => [
    uniqueIndex('ochat_messages_envelope').on(table.channelId, table.direction, table.envelopeId),
    index('ochat_messages_channel').on(table.channelId, table.id),
    index('ochat_messages_outbox').on(table.outboxDueAt).where(sql`${table.outboxDueAt} is not null`),
    // What each partner has yet to receive from us (the Connections page): few rows, however long the history.
    index('ochat_messages_waiting')
      .on(table.channelId, table.status)
      .where(sql`${table.direction} = 'out' and ${table.status} in ('pending', 'sent', 'retrying')`),
    index('ochat_messages_read_due').on(table.channelId).where(sql`${table.readReceipt} = 'due'`),
    index('ochat_messages_record').on(table.recordId).where(sql`${table.recordId} is not null`),
    index('ochat_messages_bulk').on(table.bulkId).where(sql`${table.bulkId} is not null`),
    index('ochat_messages_email_id').on(table.emailMessageId).where(sql`${table.emailMessageId} is not null`),
  ],
)

/**
 * The email of an outgoing message in an email channel: the same sending state as a record
 * notification's (schema.ts `notifications`), sent by the same mail sender with the same retries.
 * The message's own status follows it: Pending while queued, then Sent, Failed or Bounced.
 */
export const ochatEmailSends = sqliteTable(
  'ochat_email_sends',
  {
    messageId: integer('message_id').primaryKey(),
    channelId: integer('channel_id').notNull(),
    /** The content (outgoing_mail, kind ochat). */
    mailId: integer('mail_id').notNull(),
    /** The partner's address when it was queued: the only one, with the channel's, that may reply. */
    emailTo: text('email_to').notNull(),
    /** queued | sending | sent | failed | bounced */
    emailStatus: text('email_status').$type<'queued' | 'sending' | 'sent' | 'failed' | 'bounced'>().notNull(),
    emailError: text('email_error'),
    /** The SMTP server's last reply code. */
    emailCode: integer('email_code'),
    emailAttempts: integer('email_attempts').notNull().default(0),
    /** When this round of sending began (the message, or its last Retry): retried for two days from it. */
    emailQueuedAt: ms('email_queued_at').notNull(),
    emailNextAt: ms('email_next_at'),
    emailSentAt: ms('email_sent_at'),
  },
  (table) => [
    index('ochat_email_sends_due').on(table.emailNextAt).where(sql`${table.emailStatus} = 'queued'`),
    index('ochat_email_sends_mail').on(table.mailId),
  ],
)

/**
 * Files of a message. Outgoing: the node attachment, encrypted and uploaded once per message (once
 * per bulk send). Incoming: the reference from the sealed payload, until the file is downloaded,
 * decrypted, checked and stored as an ordinary attachment.
 */
export const ochatFiles = sqliteTable(
  'ochat_files',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    messageId: integer('message_id').notNull(),
    position: integer('position').notNull(),
    /** The node attachment (outgoing: the source; incoming: set once downloaded). */
    attachmentId: integer('attachment_id'),
    name: text('name').notNull(),
    mimeType: text('mime_type').notNull(),
    size: integer('size').notNull(),
    /** Plaintext SHA-256, base64url. */
    sha256: text('sha256').notNull(),
    blobId: text('blob_id'),
    /** The file key (base64url), sealed like the instance keys while it is needed. */
    sealedKey: text('sealed_key'),
    /** pending | ready (uploaded / downloaded) | failed */
    state: text('state').$type<'pending' | 'ready' | 'failed'>().notNull(),
    error: text('error'),
  },
  (table) => [index('ochat_files_message').on(table.messageId, table.position)],
)

/** Who on this node is told about an incoming message: inbox (read when the thread is opened) or email. */
export const ochatNotifications = sqliteTable(
  'ochat_notifications',
  {
    messageId: integer('message_id').notNull(),
    userId: integer('user_id').notNull(),
    channelId: integer('channel_id').notNull(),
    channel: text('channel').$type<'inbox' | 'email'>().notNull(),
    mailId: integer('mail_id'),
    /** Email channel: the same sending state as a record notification's (schema.ts `notifications`). */
    emailTo: text('email_to'),
    emailStatus: text('email_status'),
    emailError: text('email_error'),
    emailCode: integer('email_code'),
    emailAttempts: integer('email_attempts').notNull().default(0),
    emailQueuedAt: ms('email_queued_at'),
    emailNextAt: ms('email_next_at'),
    emailSentAt: ms('email_sent_at'),
    readAt: ms('read_at'),
  },
  (table) => [
    primaryKey({ columns: [table.messageId, table.userId] }),
    index('ochat_notifications_unread').on(table.userId, table.channelId).where(sql`${table.readAt} is null`),
    index('ochat_notifications_email_due')
      .on(table.emailNextAt)
      .where(sql`${table.channel} = 'email' and ${table.emailStatus} = 'queued'`),
  ],
)

/** Webhook ids already accepted, for the ±300 s window, so a captured POST cannot be replayed. */
export const ochatWebhookNonces = sqliteTable('ochat_webhook_nonces', {
  key: text('key').primaryKey(),
  expiresAt: ms('expires_at').notNull(),
})

/** One bulk send: the same message to several connections, one outgoing message each. */
export const ochatBulkSends = sqliteTable('ochat_bulk_sends', {
  id: text('id').primaryKey(),
  authorUserId: integer('author_user_id').notNull(),
  html: text('html').notNull(),
  recipients: integer('recipients').notNull(),
  createdAt: ms('created_at').notNull(),
})
