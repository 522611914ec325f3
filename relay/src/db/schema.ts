import { sql } from 'drizzle-orm'
import {
  bigint,
  bigserial,
  index,
  integer,
  pgSequence,
  pgTable,
  primaryKey,
  text,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core'

/**
 * The relay's tables. Times are integer milliseconds since the epoch (as on the wire), so a faked
 * clock in tests drives every deadline. The relay stores ciphertext only in `queue.body`, and deletes
 * the row as soon as the recipient acknowledges it; everything else is metadata.
 */

const ms = (name: string) => bigint(name, { mode: 'number' })

export const instances = pgTable('instances', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  identityKey: text('identity_key').notNull(),
  encryptionKey: text('encryption_key').notNull(),
  webhookUrl: text('webhook_url'),
  /** active | suspended */
  status: text('status').notNull().default('active'),
  registeredAt: ms('registered_at').notNull(),
  keysRotatedAt: ms('keys_rotated_at'),
  /**
   * The client address the first registration came from, for the operator to spot spam
   * (`ochat-relay instances --address`); cleared after the metadata retention.
   */
  registeredFrom: text('registered_from'),
})

export const invites = pgTable('invites', {
  /** SHA-256 of the token: a leaked table does not leak usable tokens. */
  tokenHash: text('token_hash').primaryKey(),
  note: text('note').notNull().default(''),
  createdAt: ms('created_at').notNull(),
  expiresAt: ms('expires_at').notNull(),
  usedAt: ms('used_at'),
  usedBy: text('used_by'),
})

/**
 * Counters shared by every replica for the per-address and per-instance limits: one row per kind, key
 * (an address or an instance id) and fixed window, counted up with one upsert; rows are purged once
 * their window has passed.
 */
export const rateWindows = pgTable(
  'rate_windows',
  {
    /** registration-address | request-address | request-instance */
    kind: text('kind').notNull(),
    key: text('key').notNull(),
    windowStart: ms('window_start').notNull(),
    count: integer('count').notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.kind, table.key, table.windowStart] }),
    index('rate_windows_window_start').on(table.windowStart),
  ],
)

/** Signed-request nonces, kept for the ±300 s window; shared by every replica. */
export const nonces = pgTable(
  'nonces',
  {
    key: text('key').primaryKey(),
    expiresAt: ms('expires_at').notNull(),
  },
  (table) => [index('nonces_expires_at').on(table.expiresAt)],
)

export const connections = pgTable(
  'connections',
  {
    id: uuid('id').primaryKey(),
    requester: text('requester').notNull(),
    addressee: text('addressee').notNull(),
    /** pending | accepted | rejected | revoked */
    state: text('state').notNull(),
    message: text('message').notNull().default(''),
    createdAt: ms('created_at').notNull(),
    updatedAt: ms('updated_at').notNull(),
    /** Last sequence number given to an envelope from the requester, and from the addressee. */
    requesterSeq: bigint('requester_seq', { mode: 'number' }).notNull().default(0),
    addresseeSeq: bigint('addressee_seq', { mode: 'number' }).notNull().default(0),
  },
  (table) => [
    // At most one live connection per pair of instances, whoever asked first.
    uniqueIndex('connections_live_pair')
      .on(
        sql`least(${table.requester}, ${table.addressee})`,
        sql`greatest(${table.requester}, ${table.addressee})`,
      )
      .where(sql`${table.state} in ('pending', 'accepted')`),
    index('connections_requester').on(table.requester),
    index('connections_addressee').on(table.addressee),
  ],
)

export const connectionHistory = pgTable(
  'connection_history',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    connectionId: uuid('connection_id').notNull(),
    action: text('action').notNull(),
    state: text('state').notNull(),
    by: text('by').notNull(),
    at: ms('at').notNull(),
    note: text('note'),
  },
  (table) => [index('connection_history_connection').on(table.connectionId)],
)

/** Envelope metadata: what the sender can query, and what dedupes a repeated submit. No ciphertext. */
export const envelopes = pgTable(
  'envelopes',
  {
    id: uuid('id').primaryKey(),
    sender: text('sender').notNull(),
    recipient: text('recipient').notNull(),
    connectionId: uuid('connection_id').notNull(),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    /** Ciphertext bytes. */
    size: integer('size').notNull(),
    /** queued | delivered | failed | purged */
    status: text('status').notNull(),
    acceptedAt: ms('accepted_at').notNull(),
    deliveredAt: ms('delivered_at'),
    readAt: ms('read_at'),
    failedAt: ms('failed_at'),
    reason: text('reason'),
  },
  (table) => [index('envelopes_accepted_at').on(table.acceptedAt)],
)

/**
 * Everything waiting to be delivered to an instance: envelopes (with their ciphertext), receipts and
 * status events, as the exact DeliveryItem JSON to send. `qid` gives FIFO order per destination.
 */
export const queue = pgTable(
  'queue',
  {
    qid: bigserial('qid', { mode: 'number' }).primaryKey(),
    destination: text('destination').notNull(),
    itemId: uuid('item_id').notNull(),
    /** envelope | receipt | status */
    kind: text('kind').notNull(),
    /** For envelopes: purge on revoke. */
    connectionId: uuid('connection_id'),
    body: text('body').notNull(),
    createdAt: ms('created_at').notNull(),
    deadlineAt: ms('deadline_at').notNull(),
    nextAttemptAt: ms('next_attempt_at').notNull(),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    claimedBy: text('claimed_by'),
    claimedUntil: ms('claimed_until'),
  },
  (table) => [
    // With the kind (last, so lookups by destination and item id use it): an envelope can never be
    // dropped because a receipt or status had its id.
    uniqueIndex('queue_destination_item').on(table.destination, table.itemId, table.kind),
    index('queue_destination_qid').on(table.destination, table.qid),
    // The deadline sweeper runs every few seconds: without this it would read the whole queue, bodies included.
    index('queue_deadline').on(table.deadlineAt),
    index('queue_connection').on(table.connectionId),
  ],
)

/** Which replica holds an instance's WebSocket (heartbeat 10 s, expiry 30 s). */
export const leases = pgTable('leases', {
  instanceId: text('instance_id').primaryKey(),
  replicaId: text('replica_id').notNull(),
  expiresAt: ms('expires_at').notNull(),
  /**
   * From `lease_generations`, so it only ever grows, even after a lease is dropped and taken again: a
   * replica closes its socket only for a newer lease than its own.
   */
  generation: bigint('generation', { mode: 'number' }).notNull().default(0),
})

export const leaseGenerations = pgSequence('lease_generations')

/** Per-destination backoff: one breaker per recipient instance, so a dead node costs one attempt per step. */
export const destinations = pgTable('destinations', {
  instanceId: text('instance_id').primaryKey(),
  consecutiveFailures: integer('consecutive_failures').notNull().default(0),
  openUntil: ms('open_until'),
  lastError: text('last_error'),
  updatedAt: ms('updated_at').notNull(),
})

export const blobs = pgTable(
  'blobs',
  {
    id: uuid('id').primaryKey(),
    uploader: text('uploader').notNull(),
    /** Declared ciphertext length; the upload must match it exactly. */
    size: bigint('size', { mode: 'number' }).notNull(),
    /** Declared SHA-256 of the ciphertext (base64url), checked when the upload ends; optional. */
    sha256: text('sha256'),
    /** SHA-256 of the one upload token; cleared when the upload completes. */
    uploadTokenHash: text('upload_token_hash'),
    /** uploading | complete */
    state: text('state').notNull(),
    createdAt: ms('created_at').notNull(),
    completedAt: ms('completed_at'),
    /** Deleted after this even if not everyone fetched it (30 days). */
    expiresAt: ms('expires_at').notNull(),
  },
  (table) => [index('blobs_expires_at').on(table.expiresAt)],
)

/** Who may download a blob: recipients of an envelope that lists it in its header. */
export const blobGrants = pgTable(
  'blob_grants',
  {
    blobId: uuid('blob_id').notNull(),
    instanceId: text('instance_id').notNull(),
    envelopeId: uuid('envelope_id').notNull(),
    grantedAt: ms('granted_at').notNull(),
    fetchedAt: ms('fetched_at'),
  },
  (table) => [primaryKey({ columns: [table.blobId, table.instanceId] })],
)
