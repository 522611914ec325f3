import { randomBytes } from 'node:crypto'
import { eq, getTableName, sql } from 'drizzle-orm'
import { z } from 'zod'
import type { Tx } from '../db/client.ts'
import { once } from '../db/raw.ts'
import { webhookEndpoints, webhookMessages } from '../db/schema.ts'

/** What an integrator can subscribe to. */
export const WEBHOOK_EVENT_TYPES = [
  'record.created',
  'record.updated',
  'record.deleted',
  'message.posted',
  'activity.scheduled',
  'activity.done',
  'activity.canceled',
  'follower.added',
  'ochat.message.received',
  'ochat.message.status_changed',
  'ochat.connection.changed',
  'mail.bounced',
  // Sent only to the endpoint a rule names (automation/actions-send.ts), whatever it subscribed to.
  'automation.fired',
] as const
export const WebhookEventTypeSchema = z.enum(WEBHOOK_EVENT_TYPES)
export type WebhookEventType = z.infer<typeof WebhookEventTypeSchema>

/** Past this size the data goes thin: its id and where to fetch it, not the object itself. */
export const THIN_PAST_BYTES = 64 * 1024

export type WebhookEvent = {
  type: WebhookEventType
  /** A log note or anything else internal: only endpoints allowed internal items get it. */
  internal: boolean
  /** The object as the REST API shows it, without what is for internal users only. */
  data: Record<string, unknown> & { id: number | string }
  /**
   * What only endpoints allowed internal items get on top (an activity's note, restricted field
   * values): merged over `data`, key by key.
   */
  internalData?: Record<string, unknown>
  /** Where this node's REST API serves the object (`/api/v1/…`): a thin event gives it instead. */
  path: string
  now: number
}

type Target = { id: number; events: string[]; internal: boolean }

/**
 * Queues an event for every endpoint that wants it, in the transaction of the change it tells about:
 * it is sent only if that change commits, and a crash after the commit loses nothing (the dispatcher
 * finds it at its next start). With no endpoint, it costs one indexed read of an empty table.
 */
export function emitWebhook(tx: Tx, event: WebhookEvent): number {
  // Paused and disabled endpoints too: what happens meanwhile waits for them to be resumed.
  const targets = once(tx, 'webhooks.targets', (sqlite) =>
    sqlite.prepare(`select id, events, internal from ${getTableName(webhookEndpoints)}`),
  ).all() as { id: number; events: string; internal: number }[]
  if (targets.length === 0) return 0
  const wanted = targets
    .map((row): Target => ({ id: row.id, events: JSON.parse(row.events), internal: row.internal === 1 }))
    .filter((target) => wants(target, event))
  return queueFor(tx, wanted, event)
}

/**
 * Queues an event for one endpoint, whatever event types it subscribed to: an automation rule names
 * it. In the change's transaction, as `emitWebhook`. False: there is no such endpoint.
 */
export function emitWebhookTo(tx: Tx, endpointId: number, event: WebhookEvent): boolean {
  const target = tx
    .select({ id: webhookEndpoints.id, internal: webhookEndpoints.internal })
    .from(webhookEndpoints)
    .where(eq(webhookEndpoints.id, endpointId))
    .get()
  if (!target) return false
  // As if it subscribed to every type: an internal event still reaches only an internal endpoint.
  const anyType: Target = { ...target, events: [] }
  queueFor(tx, wants(anyType, event) ? [anyType] : [], event)
  return true
}

/** One message per target, the body built once for each kind of target (with internal data or not). */
function queueFor(tx: Tx, targets: Target[], event: WebhookEvent): number {
  if (targets.length === 0) return 0
  const bodies = new Map<boolean, string>()
  const bodyFor = (internal: boolean) => {
    const full = internal && event.internalData !== undefined
    let body = bodies.get(full)
    if (body === undefined) {
      body = bodyOf(event, full ? { ...event.data, ...event.internalData } : event.data)
      bodies.set(full, body)
    }
    return body
  }
  const insert = once(tx, 'webhooks.insertMessage', () =>
    tx
      .insert(webhookMessages)
      .values({
        endpointId: sql.placeholder('endpointId'),
        eventId: sql.placeholder('eventId'),
        type: sql.placeholder('type'),
        payload: sql.placeholder('payload'),
        status: 'pending',
        // Due at once: `now` may be another clock's (a relay's time on a connection or a status).
        nextAttemptAt: 0,
        createdAt: sql.placeholder('now'),
      })
      .prepare(),
  )
  for (const target of targets)
    insert.run({
      endpointId: target.id,
      eventId: newEventId(),
      type: event.type,
      payload: bodyFor(target.internal),
      now: event.now,
    })
  return targets.length
}

export function wants(target: Target, event: Pick<WebhookEvent, 'type' | 'internal'>): boolean {
  if (event.internal && !target.internal) return false
  return target.events.length === 0 || target.events.includes(event.type)
}

/** The Standard Webhooks body: type, timestamp and data, the data thin when the object is large. */
function bodyOf(event: WebhookEvent, data: WebhookEvent['data']): string {
  const timestamp = new Date(event.now).toISOString()
  const full = JSON.stringify({ type: event.type, timestamp, data })
  if (Buffer.byteLength(full) <= THIN_PAST_BYTES) return full
  return JSON.stringify({
    type: event.type,
    timestamp,
    data: { id: data.id, thin: true, path: event.path },
  })
}

/** `msg_` and 20 random bytes: the `webhook-id` receivers deduplicate on. */
export function newEventId(): string {
  return `msg_${randomBytes(20).toString('base64url')}`
}
