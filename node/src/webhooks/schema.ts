import { z } from 'zod'
import { PageQuerySchema } from '../api/pagination.ts'
import { WebhookEventTypeSchema } from './events.ts'

const EventsSchema = z
  .array(WebhookEventTypeSchema)
  .max(50)
  .transform((types) => [...new Set(types)])
  .meta({ description: 'The event types it receives; empty: every type' })

export const EndpointCreateSchema = z.strictObject({
  url: z.string().trim().max(2000).meta({
    description: 'Where deliveries are POSTed: http or https, at a public address unless allowlisted',
  }),
  description: z.string().trim().max(500).default(''),
  events: EventsSchema.default([]),
  internal: z.boolean().default(false).meta({
    description: 'Also receive internal items (log notes, internal subtypes)',
  }),
  concurrency: z.int().min(1).max(50).default(4).meta({ description: 'Deliveries at once to this endpoint' }),
})

export const EndpointUpdateSchema = z.strictObject({
  url: EndpointCreateSchema.shape.url.optional(),
  description: z.string().trim().max(500).optional(),
  events: EventsSchema.optional(),
  internal: z.boolean().optional(),
  concurrency: z.int().min(1).max(50).optional(),
  enabled: z.boolean().optional().meta({
    description: 'false pauses deliveries (they wait); true resumes them, also after the node disabled it',
  }),
})

export const EndpointViewSchema = z.object({
  id: z.int(),
  url: z.string(),
  description: z.string(),
  events: z.array(WebhookEventTypeSchema),
  internal: z.boolean(),
  concurrency: z.int(),
  /** Shown to administrators only, who manage the endpoint. */
  secret: z.string().meta({ description: '"whsec_…": verify deliveries with it (Standard Webhooks)' }),
  previousSecretUntil: z.int().nullable().meta({
    description: 'Until when (ms) the secret before the last rotation still signs beside it',
  }),
  enabled: z.boolean(),
  disabledAt: z.int().nullable(),
  disabledReason: z.string().nullable(),
  failingSince: z
    .int()
    .nullable()
    .meta({ description: 'Since when (ms) every delivery failed; null: working' }),
  createdAt: z.int(),
  updatedAt: z.int(),
})

export const MESSAGE_STATUSES = ['pending', 'delivering', 'delivered', 'failed'] as const

export const MessageQuerySchema = PageQuerySchema.extend({
  status: z.enum(MESSAGE_STATUSES).optional().meta({ description: 'Only messages in this state' }),
})

export const AttemptViewSchema = z.object({
  id: z.int(),
  at: z.int(),
  durationMs: z.int(),
  statusCode: z.int().nullable(),
  response: z.string().nullable().meta({ description: 'The start of the answer (1 KiB)' }),
  error: z.string().nullable(),
})

export const MessageViewSchema = z.object({
  id: z.int(),
  endpointId: z.int(),
  eventId: z.string().meta({ description: 'The webhook-id header, the same on every attempt and replay' }),
  type: WebhookEventTypeSchema,
  status: z.enum(MESSAGE_STATUSES),
  attempts: z.int(),
  nextAttemptAt: z.int().nullable(),
  lastStatusCode: z.int().nullable(),
  lastError: z.string().nullable(),
  createdAt: z.int(),
  deliveredAt: z.int().nullable(),
  payload: z.unknown().meta({ description: 'The body sent, as JSON' }),
})

export const MessageDetailSchema = MessageViewSchema.extend({
  attempts: z.int(),
  tries: z.array(AttemptViewSchema),
})

export const ReplaySchema = z.strictObject({
  since: z
    .int()
    .min(0)
    .meta({ description: 'Replay every failed message created at or after this time (ms)' }),
})
