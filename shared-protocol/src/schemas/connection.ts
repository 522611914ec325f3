import { z } from 'zod'
import { LIMITS } from '../limits.ts'
import { IdSchema, InstanceIdSchema, plainText, TimestampMsSchema } from './common.ts'
import { InstancePublicKeysSchema } from './identity.ts'

/**
 * The connection lifecycle (PROTOCOL.md §3). Nothing flows between two instances until the addressee
 * accepts (§3.1).
 *
 *   pending ──accept──▶ accepted ──revoke──▶ revoked
 *      │  └──reject──▶ rejected
 *      └──revoke (by the requester: withdraw)──▶ revoked
 */
export const ConnectionStateSchema = z.enum(['pending', 'accepted', 'rejected', 'revoked'])
export type ConnectionState = z.infer<typeof ConnectionStateSchema>

export const ConnectionActionSchema = z.enum(['request', 'accept', 'reject', 'revoke'])
export type ConnectionAction = z.infer<typeof ConnectionActionSchema>

/** Which transitions each side may make, by current state. Anything else is `invalid:`. */
export const CONNECTION_TRANSITIONS: Readonly<
  Record<ConnectionState, Readonly<Partial<Record<'requester' | 'addressee', readonly ConnectionAction[]>>>>
> = {
  pending: { requester: ['revoke'], addressee: ['accept', 'reject'] },
  accepted: { requester: ['revoke'], addressee: ['revoke'] },
  rejected: {},
  revoked: {},
}

export const STATE_AFTER: Readonly<Record<Exclude<ConnectionAction, 'request'>, ConnectionState>> = {
  accept: 'accepted',
  reject: 'rejected',
  revoke: 'revoked',
}

/** POST /v1/connections */
export const ConnectionRequestSchema = z.strictObject({
  to: InstanceIdSchema,
  /** Shown to the other company's admin next to the request. */
  message: plainText(LIMITS.connectionMessageChars).default(''),
})
export type ConnectionRequest = z.infer<typeof ConnectionRequestSchema>

/** POST /v1/connections/:id/decision */
export const ConnectionDecisionSchema = z.strictObject({
  action: z.enum(['accept', 'reject', 'revoke']),
  /** Optional note kept in the history, e.g. why a request was rejected. */
  note: plainText(500).optional(),
})
export type ConnectionDecision = z.infer<typeof ConnectionDecisionSchema>

export const ConnectionHistoryEntrySchema = z.strictObject({
  action: ConnectionActionSchema,
  state: ConnectionStateSchema,
  by: InstanceIdSchema,
  at: TimestampMsSchema,
  note: z.string().max(LIMITS.connectionMessageChars).optional(),
})

/** A connection as both sides see it. `peer` is the other instance, from the viewer's side. */
export const ConnectionViewSchema = z.strictObject({
  id: IdSchema,
  requester: InstanceIdSchema,
  addressee: InstanceIdSchema,
  direction: z.enum(['outgoing', 'incoming']),
  peer: z.strictObject({
    instanceId: InstanceIdSchema,
    name: z.string().max(200),
    keys: InstancePublicKeysSchema,
  }),
  state: ConnectionStateSchema,
  message: z.string().max(LIMITS.connectionMessageChars),
  history: z.array(ConnectionHistoryEntrySchema).max(100),
  createdAt: TimestampMsSchema,
  updatedAt: TimestampMsSchema,
})
export type ConnectionView = z.infer<typeof ConnectionViewSchema>

/** 201 answer of POST /v1/connections, and 200 of GET /v1/connections/{id}. */
export const ConnectionResponseSchema = z.strictObject({ connection: ConnectionViewSchema })
export type ConnectionResponse = z.infer<typeof ConnectionResponseSchema>

/** 200 answer of GET /v1/connections: every connection of the caller, both directions. */
export const ConnectionListResponseSchema = z.strictObject({ connections: z.array(ConnectionViewSchema) })
export type ConnectionListResponse = z.infer<typeof ConnectionListResponseSchema>

/** 200 answer of POST /v1/connections/{id}/decision. */
export const ConnectionDecisionResponseSchema = z.strictObject({
  connection: ConnectionViewSchema,
  /** Envelopes still queued on the connection that a revoke deleted; 0 for any other decision. */
  purged: z.int().min(0),
})
export type ConnectionDecisionResponse = z.infer<typeof ConnectionDecisionResponseSchema>
