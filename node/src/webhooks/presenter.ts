import type { webhookAttempts } from '../db/schema.ts'
import type { WebhookEventType } from './events.ts'
import type { EndpointRow, MessageRow } from './queue.ts'

export function presentEndpoint(row: EndpointRow, now: number) {
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    events: row.events as WebhookEventType[],
    internal: row.internal,
    concurrency: row.concurrency,
    secret: row.secret,
    previousSecretUntil:
      row.previousSecret && (row.previousSecretUntil ?? 0) > now ? row.previousSecretUntil : null,
    enabled: row.disabledAt === null,
    disabledAt: row.disabledAt,
    disabledReason: row.disabledReason,
    failingSince: row.failingSince,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  }
}

export function presentMessage(row: MessageRow) {
  return {
    id: row.id,
    endpointId: row.endpointId,
    eventId: row.eventId,
    type: row.type as WebhookEventType,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.nextAttemptAt,
    lastStatusCode: row.lastStatusCode,
    lastError: row.lastError,
    createdAt: row.createdAt,
    deliveredAt: row.deliveredAt,
    payload: JSON.parse(row.payload) as unknown,
  }
}

export function presentAttempt(row: typeof webhookAttempts.$inferSelect) {
  return {
    id: row.id,
    at: row.at,
    durationMs: row.durationMs,
    statusCode: row.statusCode,
    response: row.response,
    error: row.error,
  }
}
