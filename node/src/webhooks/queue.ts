import { and, eq, getTableName, inArray } from 'drizzle-orm'
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
/** The longest wait between two attempts, with room for a slow call. */
const LONGEST_GAP_MS = Math.max(...RETRY_DELAYS_MS) + 3_600_000

export type EndpointRow = typeof webhookEndpoints.$inferSelect
export type MessageRow = typeof webhookMessages.$inferSelect
export type DueMessage = Pick<MessageRow, 'id' | 'endpointId' | 'eventId' | 'payload' | 'attempts'>

/**
 * An endpoint's pending messages due by `now`, oldest due first: read per endpoint, so that a backlog
 * on one (slow, failing) never holds up the others.
 */
export function dueMessages(tx: Tx, input: { endpointId: number; now: number; limit: number }): DueMessage[] {
  return once(tx, 'webhooks.due', (sqlite) =>
    sqlite.prepare(
      `select id, endpoint_id as endpointId, event_id as eventId, payload, attempts
         from ${getTableName(webhookMessages)}
        where endpoint_id = ? and status = 'pending' and next_attempt_at <= ?
        order by next_attempt_at, id limit ?`,
    ),
  ).all(input.endpointId, input.now, input.limit) as DueMessage[]
}

/** When an endpoint's next pending message is due; null when none is. */
export function nextDueAt(tx: Tx, endpointId: number): number | null {
  const row = once(tx, 'webhooks.nextDue', (sqlite) =>
    sqlite.prepare(
      `select next_attempt_at as at from ${getTableName(webhookMessages)}
        where endpoint_id = ? and status = 'pending' order by next_attempt_at limit 1`,
    ),
  ).get(endpointId) as { at: number } | undefined
  return row?.at ?? null
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

export function releaseClaims(tx: Tx, ids?: number[]): void {
  tx.update(webhookMessages)
    .set({ status: 'pending' })
    .where(
      ids === undefined
        ? eq(webhookMessages.status, 'delivering')
        : and(eq(webhookMessages.status, 'delivering'), inArray(webhookMessages.id, ids)),
    )
    .run()
}

export type AttemptOutcome = {
  at: number
  /** When the call ended, on the same clock as `at`. */
  endedAt: number
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
  // Every delivery runs these: each prepared once per connection.
  const attempts = getTableName(webhookAttempts)
  const messages = getTableName(webhookMessages)
  const endpoints = getTableName(webhookEndpoints)
  once(tx, 'webhooks.insertAttempt', (sqlite) =>
    sqlite.prepare(
      `insert into ${attempts} (message_id, endpoint_id, at, duration_ms, status_code, response, error)
       values (?, ?, ?, ?, ?, ?, ?)`,
    ),
  ).run(
    message.id,
    message.endpointId,
    outcome.at,
    outcome.durationMs,
    outcome.statusCode,
    outcome.response,
    outcome.error,
  )
  const count = message.attempts + 1
  if (outcome.error === null) {
    once(tx, 'webhooks.delivered', (sqlite) =>
      sqlite.prepare(
        `update ${messages} set status = 'delivered', attempts = ?, next_attempt_at = null,
           last_status_code = ?, last_error = null, delivered_at = ? where id = ?`,
      ),
    ).run(count, outcome.statusCode, outcome.endedAt, message.id)
    // Written only when the endpoint was failing: most deliveries change nothing here.
    once(tx, 'webhooks.working', (sqlite) =>
      sqlite.prepare(
        `update ${endpoints} set failing_since = null, last_failure_at = null
          where id = ? and failing_since is not null`,
      ),
    ).run(message.endpointId)
    return { status: 'delivered', disabled: null }
  }
  const delay = RETRY_DELAYS_MS[count]
  const status = delay === undefined ? 'failed' : 'pending'
  // Counted from the end of the call: after a 15 s timeout, "5 s later" is still 5 s later.
  once(tx, 'webhooks.failed', (sqlite) =>
    sqlite.prepare(
      `update ${messages} set status = ?, attempts = ?, next_attempt_at = ?, last_status_code = ?,
         last_error = ? where id = ?`,
    ),
  ).run(
    status,
    count,
    delay === undefined ? null : outcome.endedAt + delay,
    outcome.statusCode,
    outcome.error,
    message.id,
  )
  return { status, disabled: failing(tx, message.endpointId, outcome) }
}

/** Notes the endpoint failing; disables it when gone, or failing for DISABLE_AFTER_MS. */
function failing(tx: Tx, endpointId: number, outcome: AttemptOutcome): string | null {
  const endpoint = tx.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, endpointId)).get()
  if (!endpoint || endpoint.disabledAt !== null) return null
  // A run of failures goes on while failures follow each other within the longest retry gap; a
  // quiet spell, or a success, ends it: one failure after days of nothing to send is a new run.
  const going =
    endpoint.failingSince !== null &&
    endpoint.lastFailureAt !== null &&
    outcome.at - endpoint.lastFailureAt <= LONGEST_GAP_MS
  const since = going ? (endpoint.failingSince as number) : outcome.at
  const reason = outcome.gone
    ? 'the endpoint answered 410 Gone'
    : outcome.at - since >= DISABLE_AFTER_MS
      ? `every delivery failed for 5 days; the last: ${outcome.error}`
      : null
  tx.update(webhookEndpoints)
    .set(
      reason === null
        ? { failingSince: since, lastFailureAt: outcome.at }
        : {
            failingSince: since,
            lastFailureAt: outcome.at,
            disabledAt: outcome.at,
            disabledReason: reason,
            updatedAt: outcome.at,
          },
    )
    .where(eq(webhookEndpoints.id, endpointId))
    .run()
  return reason
}
