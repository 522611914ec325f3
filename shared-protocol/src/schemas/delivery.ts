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
 * POST /ochat/webhook body. Signed as PROTOCOL.md §7 says (`webhook-id`, `webhook-timestamp`,
 * `webhook-signature: v1a,...`); `webhook-id` names this POST, each item keeps its own id.
 */
export const WebhookBodySchema = z.strictObject({
  v: VersionSchema,
  items: z.array(DeliveryItemSchema).min(1).max(LIMITS.webhookItems),
})
export type WebhookBody = z.infer<typeof WebhookBodySchema>

/**
 * What a node does with one delivered item, in a webhook answer or an `ack` frame. A refusal carries only
 * a reason: its prefix is all the relay acts on (`invalid:` fails the envelope, anything else retries).
 */
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

/**
 * Receipts sent on their own: the body of POST /v1/receipts (PROTOCOL.md §5.1). At most as many as a
 * `receipt` frame carries, so both paths take the same batches.
 */
export const ReceiptsRequestSchema = z.strictObject({
  receipts: z.array(SignedReceiptSchema).min(1).max(LIMITS.socketWindow),
})
export type ReceiptsRequest = z.infer<typeof ReceiptsRequestSchema>

/**
 * Why the relay refused a receipt, one code per cause (PROTOCOL.md §5.1); the reason beside it says the
 * same in words. The same codes answer a refused receipt on the socket (§6.2).
 */
export const RECEIPT_REFUSAL_CODES = [
  'E_RECEIPT_MALFORMED',
  'E_RECEIPT_MISADDRESSED',
  'E_RECEIPT_BAD_SIGNATURE',
  'E_RECEIPT_UNKNOWN_ENVELOPE',
  'E_CONNECTION_NOT_ACCEPTED',
  'E_INTERNAL',
] as const
export const ReceiptRefusalCodeSchema = z.enum(RECEIPT_REFUSAL_CODES)
export type ReceiptRefusalCode = z.infer<typeof ReceiptRefusalCodeSchema>

/** The relay's answer for one receipt, in request order. */
export const ReceiptResultSchema = z.discriminatedUnion('ok', [
  z.strictObject({ ok: z.literal(true), id: IdSchema }),
  z.strictObject({
    ok: z.literal(false),
    id: IdSchema,
    code: ReceiptRefusalCodeSchema,
    reason: ReasonSchema,
  }),
])
export type ReceiptResult = z.infer<typeof ReceiptResultSchema>

/** 200 answer of POST /v1/receipts: one result per receipt, refusals included. */
export const ReceiptsResponseSchema = z.strictObject({
  results: z.array(ReceiptResultSchema).max(LIMITS.socketWindow),
})
export type ReceiptsResponse = z.infer<typeof ReceiptsResponseSchema>

/**
 * Where an envelope is on the relay: `queued` until a Delivered receipt (`delivered`), `failed` past its
 * deadline or refused by the recipient, `purged` when its connection was revoked.
 */
export const EnvelopeRelayStatusSchema = z.enum(['queued', 'delivered', 'failed', 'purged'])
export type EnvelopeRelayStatus = z.infer<typeof EnvelopeRelayStatusSchema>

/** 200 answer of GET /v1/envelopes/{id}: what the sender may know of its envelope, metadata only. */
export const EnvelopeStatusResponseSchema = z.strictObject({
  envelope: z.strictObject({
    id: IdSchema,
    to: InstanceIdSchema,
    connectionId: IdSchema,
    seq: z.int().positive(),
    /** Ciphertext bytes. */
    size: z.int().min(0),
    status: EnvelopeRelayStatusSchema,
    acceptedAt: TimestampMsSchema,
    deliveredAt: TimestampMsSchema.optional(),
    readAt: TimestampMsSchema.optional(),
    failedAt: TimestampMsSchema.optional(),
    /** Why it failed or was purged. */
    reason: ReasonSchema.optional(),
  }),
})
export type EnvelopeStatusResponse = z.infer<typeof EnvelopeStatusResponseSchema>
