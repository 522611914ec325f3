import { getTableName } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { once } from '../db/raw.ts'
import {
  automationQueue,
  incomingMails,
  notifications,
  ochatChannels,
  ochatMessages,
  ochatNotifications,
  webhookAttempts,
  webhookMessages,
} from '../db/schema.ts'

/**
 * The figures /metrics reads from the database when it is scraped. Each statement is answered from a
 * partial index (few rows: what is queued or pending) or walks the newest rows of a table backwards by
 * its key, at most RECENT_ROWS of them, so a scrape costs the same on a node with years of history.
 */

/** Rows looked at, newest first, for the "in the last hour" figures: more than an hour ever holds. */
const RECENT_ROWS = 10_000

export type MailQueue = { queued: number; oldestQueuedAt: number | null }

/** Emails waiting to be sent, record notifications and O'Chat email channels alike. */
export function readMailQueue(db: Tx): MailQueue {
  const statement = (table: string) =>
    `select count(*) as queued, min(email_queued_at) as oldest from ${table}
      where channel = 'email' and email_status = 'queued'`
  const parts = [
    once(db, 'metrics.mailQueued', (sqlite) => sqlite.prepare(statement(getTableName(notifications)))),
    once(db, 'metrics.ochatMailQueued', (sqlite) =>
      sqlite.prepare(statement(getTableName(ochatNotifications))),
    ),
  ].map((prepared) => prepared.get() as { queued: number; oldest: number | null })
  const oldest = parts.map((part) => part.oldest).filter((at): at is number => at !== null)
  return {
    queued: parts.reduce((sum, part) => sum + part.queued, 0),
    oldestQueuedAt: oldest.length > 0 ? Math.min(...oldest) : null,
  }
}

/** Record emails that failed for good or bounced, by that status (a Retry makes one queued again). */
export function readMailFailed(db: Tx): { status: string; emails: number }[] {
  return once(db, 'metrics.mailFailed', (sqlite) =>
    sqlite.prepare(
      `select email_status as status, count(*) as emails from ${getTableName(notifications)}
        where channel = 'email' and email_status in ('failed', 'bounced') group by email_status`,
    ),
  ).all() as { status: string; emails: number }[]
}

export function readWebhooksPending(db: Tx): number {
  const row = once(db, 'metrics.webhooksPending', (sqlite) =>
    sqlite.prepare(
      `select count(*) as pending from ${getTableName(webhookMessages)} where status = 'pending'`,
    ),
  ).get() as { pending: number }
  return row.pending
}

/**
 * Webhook calls that failed since `since`, and the messages among them that used their last attempt
 * (now Failed). Attempts are written in time order, so the newest by id are the recent ones.
 */
export function readWebhookFailures(db: Tx, since: number): { attempts: number; messages: number } {
  return once(db, 'metrics.webhookFailures', (sqlite) =>
    sqlite.prepare(
      `select count(*) as attempts, count(distinct case when m.status = 'failed' then m.id end) as messages
         from (select message_id, at, error from ${getTableName(webhookAttempts)} order by id desc limit ${RECENT_ROWS}) a
         join ${getTableName(webhookMessages)} m on m.id = a.message_id
        where a.at >= ? and a.error is not null`,
    ),
  ).get(since) as { attempts: number; messages: number }
}

/** Rule events (a message received, an O'Chat message failed) waiting for the rules to run. */
export function readAutomationQueue(db: Tx): number {
  const row = once(db, 'metrics.automationQueue', (sqlite) =>
    sqlite.prepare(`select count(*) as depth from ${getTableName(automationQueue)}`),
  ).get() as { depth: number }
  return row.depth
}

export type OutboxDepth = { connection: string; pending: number; oldestCreatedAt: number }

/** O'Chat messages the relay has not stored yet, per connection. */
export function readOchatOutbox(db: Tx): OutboxDepth[] {
  return once(db, 'metrics.ochatOutbox', (sqlite) =>
    sqlite.prepare(
      `select c.connection_id as connection, count(*) as pending, min(m.created_at) as oldestCreatedAt
         from ${getTableName(ochatMessages)} m join ${getTableName(ochatChannels)} c on c.id = m.channel_id
        where m.outbox_due_at is not null group by c.connection_id`,
    ),
  ).all() as OutboxDepth[]
}

/** Incoming mail refused (policy, unknown address) since `since`. */
export function readIncomingRefused(db: Tx, since: number): number {
  const row = once(db, 'metrics.incomingRefused', (sqlite) =>
    sqlite.prepare(
      `select count(*) as refused from (select received_at from ${getTableName(incomingMails)}
          where outcome = 'refused' order by id desc limit ${RECENT_ROWS})
        where received_at >= ?`,
    ),
  ).get(since) as { refused: number }
  return row.refused
}
