import { z } from 'zod'
import { itemsOf } from '../api/pagination.ts'
import type { subtypes } from '../db/schema.ts'
import { avatarUrl } from '../people/avatar-image.ts'
import type { PartnerRow } from '../people/repository.ts'
import type { followersWithPartners } from './repository.ts'
import { SubscriptionSchema } from './subscription.ts'

export const FollowerViewSchema = z.object({
  partnerId: z.int(),
  name: z.string(),
  email: z.string().nullable(),
  internal: z.boolean(),
  subscription: SubscriptionSchema,
  /** The subtypes picked, for `custom`; empty otherwise. */
  subtypes: z.array(z.string()),
  /** The partner's picture (null: draw initials). */
  avatarUrl: z.string().nullable(),
})
export type FollowerView = z.infer<typeof FollowerViewSchema>

export function presentFollower(row: ReturnType<typeof followersWithPartners>[number]): FollowerView {
  return {
    partnerId: row.partnerId,
    name: row.name,
    email: row.email,
    internal: row.internal,
    subscription: row.subscription,
    subtypes: row.subtypes,
    avatarUrl: avatarUrl(row.partnerId, row.avatarAt),
  }
}

export const FollowerListSchema = itemsOf(FollowerViewSchema)

export const SubtypeViewSchema = z.object({
  key: z.string(),
  name: z.string(),
  /** Internal subtypes (notes, activities) never reach external contacts. */
  internal: z.boolean(),
  /** One of the subtypes a follower on "all messages" gets. */
  default: z.boolean(),
})

export function presentSubtype(row: typeof subtypes.$inferSelect): z.infer<typeof SubtypeViewSchema> {
  return { key: row.key, name: row.name, internal: row.internal, default: row.isDefault }
}

export const SuggestedRecipientSchema = z.object({
  partnerId: z.int(),
  name: z.string(),
  email: z.string().nullable(),
})

export function presentSuggestedRecipient(row: PartnerRow): z.infer<typeof SuggestedRecipientSchema> {
  return { partnerId: row.id, name: row.name, email: row.email ?? null }
}
