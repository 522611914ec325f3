import { and, asc, eq, getTableName, inArray, sql } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { once } from '../db/raw.ts'
import { webhookAttempts, webhookEndpoints, webhookMessages } from '../db/schema.ts'

/**
 * When each attempt goes, after the one before it failed: at once, then 5 s, 5 min, 30 min, 2 h, 5 h,
 * 10 h and 10 h (Svix's schedule); a message still undelivered after the last is Failed.
 */
export const RETRY_DELAYS_MS = [0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]
/** An endpoint whose every delivery failed for this long is disabled, and administrators are told. */
export const DISABLE_AFTER_MS = 5 * 24 * 3_600_000

export type EndpointRow = typeof webhookEndpoints.$inferSelect
export type MessageRow = typeof webhookMessages.$inferSelect
export type DueMessage = Pick<MessageRow, 'id' | 'endpointId' | 'eventId' | 'payload' | 'attempts'>

/** Pending messages due by `now` whose endpoint is enabled, oldest due first. */
export function dueMessages(tx: Tx, input: { now: number; limit: number }): DueMessage[] {
  const messages = getTableName(webhookMessages)
  const endpoints = getTableName(webhookEndpoints)
  return once(tx, 'webhooks.due', (sqlite) =>
    sqlite.prepare(
      `select m.id, m.endpoint_id as endpointId, m.event_id as eventId, m.payload, m.attempts
         from ${messages} m join ${endpoints} e on e.id = m.endpoint_id
        where m.status = 'pending' and m.next_attempt_at <= ? and e.disabled_at is null
        order by m.next_attempt_at, m.id limit ?`,
    ),
  ).all(input.now, input.limit) as DueMessage[]
}

/** Takes messages for a delivery: those still pending; a restart gives back what it held (releaseClaims). */
export function claimMessages(tx: Tx, ids: number[]): number[] {
  if (ids.length === 0) return []
  return tx
    .update(webhookMessages)
    .set({ status: 'delivering' })
    .where(and(inArray(webhookMessages.id, ids), eq(webhookMessages.status, 'pending')))
    .returning({ id: webhookMessages.id })
    .all()
    .map((row) => row.id)
}

export function releaseClaims(tx: Tx): void {
  tx.update(webhookMessages).set({ status: 'pending' }).where(eq(webhookMessages.status, 'delivering')).run()
}

export type AttemptOutcome = {
  at: number
  durationMs: number
  statusCode: number | null
  response: string | null
  /** null: delivered (a 2xx). */
  error: string | null
  /** The endpoint said it is gone (410): it is disabled at once. */
  gone: boolean
}

export type Recorded = {
  status: MessageRow['status']
  /** Set when this attempt disabled the endpoint. */
  disabled: string | null
}

/** Keeps the attempt and moves the message on: delivered, retried on the schedule, or failed. */
export function recordAttempt(tx: Tx, message: DueMessage, outcome: AttemptOutcome): Recorded {
  tx.insert(webhookAttempts)
    .values({
      messageId: message.id,
      endpointId: message.endpointId,
      at: outcome.at,
      durationMs: outcome.durationMs,
      statusCode: outcome.statusCode,
      response: outcome.response,
      error: outcome.error,
    })
    .run()
  const attempts = message.attempts + 1
  if (outcome.error === null) {
    tx.update(webhookMessages)
      .set({
        status: 'delivered',
        attempts,
        nextAttemptAt: null,
        lastStatusCode: outcome.statusCode,
        lastError: null,
        deliveredAt: outcome.at,
      })
      .where(eq(webhookMessages.id, message.id))
      .run()
    tx.update(webhookEndpoints)
      .set({ failingSince: null })
      .where(eq(webhookEndpoints.id, message.endpointId))
      .run()
    return { status: 'delivered', disabled: null }
  }
  const delay = RETRY_DELAYS_MS[attempts]
  const status = delay === undefined ? 'failed' : 'pending'
  tx.update(webhookMessages)
    .set({
      status,
      attempts,
      nextAttemptAt: delay === undefined ? null : outcome.at + delay,
      lastStatusCode: outcome.statusCode,
      lastError: outcome.error,
    })
    .where(eq(webhookMessages.id, message.id))
    .run()
  return { status, disabled: failing(tx, message.endpointId, outcome) }
}

/** Notes the endpoint failing; disables it when gone, or failing for DISABLE_AFTER_MS. */
function failing(tx: Tx, endpointId: number, outcome: AttemptOutcome): string | null {
  const endpoint = tx.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, endpointId)).get()
  if (!endpoint || endpoint.disabledAt !== null) return null
  const since = endpoint.failingSince ?? outcome.at
  const reason = outcome.gone
    ? 'the endpoint answered 410 Gone'
    : outcome.at - since >= DISABLE_AFTER_MS
      ? `every delivery failed for 5 days; the last: ${outcome.error}`
      : null
  tx.update(webhookEndpoints)
    .set(
      reason === null
        ? { failingSince: since }
        : { failingSince: since, disabledAt: outcome.at, disabledReason: reason, updatedAt: outcome.at },
    )
    .where(eq(webhookEndpoints.id, endpointId))
    .run()
  return reason
}

/** When the next pending message of an enabled endpoint is due; null when none is. */
export function nextDueAt(tx: Tx): number | null {
  const row = tx
    .select({ at: webhookMessages.nextAttemptAt })
    .from(webhookMessages)
    .innerJoin(webhookEndpoints, eq(webhookEndpoints.id, webhookMessages.endpointId))
    .where(sql`${webhookMessages.status} = 'pending' and ${webhookEndpoints.disabledAt} is null`)
    .orderBy(asc(webhookMessages.nextAttemptAt))
    .limit(1)
    .get()
  return row?.at ?? null
}
