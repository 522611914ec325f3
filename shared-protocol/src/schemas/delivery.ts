import { z } from 'zod'
import { ReasonSchema } from '../errors.ts'
import { LIMITS } from '../limits.ts'
import { IdSchema, InstanceIdSchema, TimestampMsSchema, VersionSchema } from './common.ts'
import { EnvelopeSchema } from './envelope.ts'
import { SignedReceiptSchema } from './payload.ts'

/**
 * Status events the relay reports to a sender about its envelopes (PROTOCOL.md §5.2). Delivered and
 * Read are not here: they come from the recipient as signed receipts, so the relay cannot forge them.
 */
export const StatusEventSchema = z.discriminatedUnion('status', [
  z.strictObject({
    v: VersionSchema,
    status: z.literal('sent'),
    envelopeId: IdSchema,
    to: InstanceIdSchema,
    seq: z.int().positive(),
    at: TimestampMsSchema,
  }),
  z.strictObject({
    v: VersionSchema,
    status: z.literal('retrying'),
    envelopeId: IdSchema,
    to: InstanceIdSchema,
    /** Attempts made so far. */
    attempt: z.int().positive(),
    nextAttemptAt: TimestampMsSchema,
    reason: ReasonSchema,
    at: TimestampMsSchema,
  }),
  z.strictObject({
    v: VersionSchema,
    status: z.literal('failed'),
    envelopeId: IdSchema,
    to: InstanceIdSchema,
    reason: ReasonSchema,
    at: TimestampMsSchema,
  }),
])
export type StatusEvent = z.infer<typeof StatusEventSchema>

/**
 * One thing the relay delivers to a node, by WebSocket or webhook alike. `id` is the dedupe key, the
 * same on both paths and on every retry: the envelope id for envelopes.
 */
export const DeliveryItemSchema = z
  .discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('envelope'),
      id: IdSchema,
      connectionId: IdSchema,
      /** Per-connection sequence number assigned by the relay. */
      seq: z.int().positive(),
      receivedAt: TimestampMsSchema,
      envelope: EnvelopeSchema,
    }),
    z.strictObject({ type: z.literal('receipt'), id: IdSchema, receipt: SignedReceiptSchema }),
    z.strictObject({ type: z.literal('status'), id: IdSchema, event: StatusEventSchema }),
  ])
  .refine((item) => item.type !== 'envelope' || item.id === item.envelope.header.id, {
    message: "an envelope item's id is its envelope's id",
    path: ['id'],
  })
export type DeliveryItem = z.infer<typeof DeliveryItemSchema>

/**
 * POST /ochat/webhook body. Signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`,
 * `webhook-signature: v1a,...`); `webhook-id` names this POST, each item keeps its own id.
 */
export const WebhookBodySchema = z.strictObject({
  v: VersionSchema,
  items: z.array(DeliveryItemSchema).min(1).max(LIMITS.webhookItems),
})
export type WebhookBody = z.infer<typeof WebhookBodySchema>

/** What a node does with one delivered item. */
export const ItemResultSchema = z.discriminatedUnion('ok', [
  z.strictObject({ ok: z.literal(true), id: IdSchema, duplicate: z.literal(true).optional() }),
  z.strictObject({ ok: z.literal(false), id: IdSchema, reason: ReasonSchema }),
])
export type ItemResult = z.infer<typeof ItemResultSchema>

/**
 * A node's 2xx answer to a webhook. Envelopes count as delivered only through a signed Delivered
 * receipt, here or sent later; an item refused with `invalid:` fails at once and is reported to the
 * sender, anything else is retried.
 */
export const WebhookResponseSchema = z.strictObject({
  v: VersionSchema,
  results: z.array(ItemResultSchema).max(LIMITS.webhookItems),
  receipts: z.array(SignedReceiptSchema).max(LIMITS.webhookItems).default([]),
})
export type WebhookResponse = z.infer<typeof WebhookResponseSchema>
