import { LIMITS } from '@ochat/shared-protocol'
import { z } from 'zod'
import { SendBody } from '../channels/schema.ts'

/** Recipients of one bulk send: up to 1,000, as the relay takes in one submit (PROTOCOL.md §4.4). */
const MAX_RECIPIENTS = LIMITS.bulkRecipients

export const BulkBody = SendBody.extend({
  /** The channels (one per connection) to send the same message to; each gets its own copy and status. */
  channelIds: z
    .array(z.int().positive())
    .min(1, 'choose at least one connection')
    .max(MAX_RECIPIENTS, `at most ${MAX_RECIPIENTS} recipients per bulk send`)
    .refine((ids) => new Set(ids).size === ids.length, 'each channel at most once'),
})

export const BulkListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(100).optional(),
})

export const BulkParams = z.object({ id: z.string().max(100) })
