import { z } from 'zod'
import { ErrorBodySchema } from '../errors.ts'
import { LIMITS } from '../limits.ts'
import {
  base64UrlBytes,
  IdSchema,
  InstanceIdSchema,
  RelayIdSchema,
  SignatureSchema,
  TimestampMsSchema,
  VersionSchema,
} from './common.ts'
import { DeliveryItemSchema, ItemResultSchema } from './delivery.ts'
import { EnvelopeBatchSchema, SubmitResultSchema } from './envelope.ts'
import { SignedReceiptSchema } from './payload.ts'

/**
 * WebSocket frames (PROTOCOL.md §6), JSON text frames. The node opens the socket; the relay speaks
 * first with a challenge, and nothing but `auth` or `ping` is accepted before the node answers it.
 */

const PingSchema = z.strictObject({ type: z.literal('ping'), at: TimestampMsSchema })
const PongSchema = z.strictObject({ type: z.literal('pong'), at: TimestampMsSchema })

/** Relay → node. */
export const RelayFrameSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('challenge'),
    v: VersionSchema,
    relayId: RelayIdSchema,
    /** 32 random bytes, single use, valid for 30 s. */
    challenge: base64UrlBytes(32, 'challenge'),
    at: TimestampMsSchema,
  }),
  z.strictObject({
    type: z.literal('ready'),
    instanceId: InstanceIdSchema,
    /** How many deliveries may be unacknowledged at once on this socket. */
    window: z.int().positive().max(LIMITS.socketWindow),
  }),
  z.strictObject({
    type: z.literal('deliver'),
    items: z.array(DeliveryItemSchema).min(1).max(LIMITS.socketWindow),
  }),
  z.strictObject({
    type: z.literal('submitted'),
    requestId: IdSchema,
    results: z.array(SubmitResultSchema).max(LIMITS.bulkRecipients),
  }),
  z.strictObject({ type: z.literal('error'), requestId: IdSchema.optional(), ...ErrorBodySchema.shape }),
  PingSchema,
  PongSchema,
])
export type RelayFrame = z.infer<typeof RelayFrameSchema>

/** What the node signs to answer a challenge (PROTOCOL.md §6.1). */
export const SocketAuthSchema = z.strictObject({
  v: VersionSchema,
  relayId: RelayIdSchema,
  instanceId: InstanceIdSchema,
  challenge: base64UrlBytes(32, 'challenge'),
  at: TimestampMsSchema,
})
export type SocketAuth = z.infer<typeof SocketAuthSchema>

/** Node → relay. */
export const NodeFrameSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('auth'), auth: SocketAuthSchema, signature: SignatureSchema }),
  z.strictObject({
    type: z.literal('submit'),
    requestId: IdSchema,
    envelopes: EnvelopeBatchSchema,
  }),
  z.strictObject({
    type: z.literal('ack'),
    /** One result per delivered item, by item id. */
    results: z.array(ItemResultSchema).min(1).max(LIMITS.socketWindow),
    /** Signed Delivered receipts for the envelopes stored; an envelope is delivered only through one. */
    receipts: z.array(SignedReceiptSchema).max(LIMITS.socketWindow).default([]),
  }),
  /** Receipts sent on their own, e.g. Read when a person opens the thread. */
  z.strictObject({
    type: z.literal('receipt'),
    receipts: z.array(SignedReceiptSchema).min(1).max(LIMITS.socketWindow),
  }),
  PingSchema,
  PongSchema,
])
export type NodeFrame = z.infer<typeof NodeFrameSchema>
