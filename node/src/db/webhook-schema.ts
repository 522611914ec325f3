import { sql } from 'drizzle-orm'
import { index, integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core'
import { bool, json, ms } from './core-schema.ts'

/**
 * Outbound webhooks for integrators: the endpoints an administrator registered, each event to send
 * to each of them (the queue, kept across restarts), and every attempt made.
 */

export const webhookEndpoints = sqliteTable('webhook_endpoints', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  url: text('url').notNull(),
  description: text('description').notNull().default(''),
  /** The event types it receives; empty: every type. */
  events: json<string[]>('events').notNull(),
  /** Also receives internal items (log notes, internal subtypes): only an administrator's choice. */
  internal: bool('internal').notNull().default(false),
  /** "whsec_…": signs every delivery. */
  secret: text('secret').notNull(),
  /** The secret before the last rotation, still signing beside the new one until `previousSecretUntil`. */
  previousSecret: text('previous_secret'),
  previousSecretUntil: ms('previous_secret_until'),
  /** Deliveries at once to this endpoint. */
  concurrency: integer('concurrency').notNull().default(4),
  /** Set when it failed for days, answered 410, or an administrator paused it; nothing is sent then. */
  disabledAt: ms('disabled_at'),
  disabledReason: text('disabled_reason'),
  /** When its current run of failures began; null while the last delivery succeeded. */
  failingSince: ms('failing_since'),
  /** Its last failed attempt: a run of failures with a gap longer than any retry's is over. */
  lastFailureAt: ms('last_failure_at'),
  createdBy: integer('created_by'),
  createdAt: ms('created_at').notNull(),
  updatedAt: ms('updated_at').notNull(),
})

/** One event for one endpoint: the exact body sent, and where its delivery stands. */
export const webhookMessages = sqliteTable(
  'webhook_messages',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    endpointId: integer('endpoint_id').notNull(),
    /** The `webhook-id` header: the same on every retry and replay, so the receiver can drop repeats. */
    eventId: text('event_id').notNull(),
    type: text('type').notNull(),
    /** The JSON body, as signed and sent. */
    payload: text('payload').notNull(),
    /** pending (waiting for its next attempt) | delivering | delivered | failed (every attempt used) */
    status: text('status').$type<'pending' | 'delivering' | 'delivered' | 'failed'>().notNull(),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: ms('next_attempt_at'),
    lastStatusCode: integer('last_status_code'),
    lastError: text('last_error'),
    createdAt: ms('created_at').notNull(),
    deliveredAt: ms('delivered_at'),
  },
  (table) => [
    // The dispatcher's queue, per endpoint: pending messages by when they are due.
    index('webhook_messages_due')
      .on(table.endpointId, table.nextAttemptAt, table.id)
      .where(sql`${table.status} = 'pending'`),
    index('webhook_messages_endpoint').on(table.endpointId, table.id),
    uniqueIndex('webhook_messages_event').on(table.eventId),
  ],
)

/** Every attempt to deliver a message: what the endpoint answered, and how long it took. */
export const webhookAttempts = sqliteTable(
  'webhook_attempts',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    messageId: integer('message_id').notNull(),
    endpointId: integer('endpoint_id').notNull(),
    at: ms('at').notNull(),
    durationMs: integer('duration_ms').notNull(),
    /** null: no HTTP answer (refused address, timeout, connection closed). */
    statusCode: integer('status_code'),
    /** The start of the answer's body, for the administrator. */
    response: text('response'),
    error: text('error'),
  },
  (table) => [index('webhook_attempts_message').on(table.messageId, table.id)],
)
