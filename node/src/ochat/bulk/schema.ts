import { z } from 'zod'
import { OchatStatusSchema } from '../channels/presenter.ts'
import { SendBody } from '../channels/routes.ts'

/** Recipients of one bulk send: up to 1,000, as the relay takes in one submit (DESIGN.md limits). */
export const MAX_BULK_RECIPIENTS = 1000

export const BulkBody = SendBody.extend({
  /** The channels (one per connection) to send the same message to; each gets its own copy and status. */
  channelIds: z
    .array(z.int().positive())
    .min(1, 'choose at least one connection')
    .max(MAX_BULK_RECIPIENTS, `at most ${MAX_BULK_RECIPIENTS} recipients per bulk send`)
    .refine((ids) => new Set(ids).size === ids.length, 'each channel at most once'),
})

export const BulkListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(100).optional(),
})

export const BulkParams = z.object({ id: z.string().max(100) })

/** One recipient of a bulk send: its own message and its own status. */
export const BulkItemSchema = z.object({
  channelId: z.int(),
  messageId: z.int(),
  peer: z.object({ instanceId: z.string(), name: z.string() }),
  /** The partner this company is filed under here. */
  contact: z.object({ id: z.int(), name: z.string() }).nullable(),
  status: OchatStatusSchema,
  /** When it took its current status. */
  statusAt: z.int(),
  /** Retrying and Failed: why. */
  reason: z.string().nullable(),
  /** Retrying and Failed: what to check (the seed's troubleshooting). */
  nextStep: z.string().nullable(),
})

const count = z.int().min(0)

export const BulkSummarySchema = z.object({
  id: z.string(),
  createdAt: z.int(),
  author: z.object({ userId: z.int(), name: z.string().nullable() }),
  /** The message's first words, as plain text. */
  preview: z.string(),
  recipients: z.int(),
  /** How many recipients' messages are in each status now (each counts once, in its current status). */
  counts: z.object({
    pending: count,
    sent: count,
    delivered: count,
    read: count,
    retrying: count,
    failed: count,
  }),
  items: z.array(BulkItemSchema),
})
export type BulkSummary = z.infer<typeof BulkSummarySchema>
