import { z } from 'zod'
import { SubscriptionSchema } from './subscription.ts'

export const FollowerParamsSchema = z.object({
  id: z.coerce.number().int().positive(),
  partnerId: z.coerce.number().int().positive(),
})

export const FollowerChoiceSchema = z.strictObject({
  subscription: SubscriptionSchema.optional(),
  /** Subtype keys, for `custom`. */
  subtypes: z.array(z.string().max(64)).max(50).optional(),
})

export const FollowBodySchema = FollowerChoiceSchema.extend({
  partnerId: z.int().positive(),
  /** Markdown the new follower receives with the invitation (kept in the chatter, told to them only). */
  message: z.string().trim().max(10_000).optional(),
})

/** GET /api/v1/subtypes?model=lead: the general subtypes and that model's own. */
export const SubtypesQuerySchema = z.object({ model: z.string().max(64).optional() })
