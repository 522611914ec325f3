import { z } from 'zod'

export const SubscriptionSchema = z.enum(['all', 'comments', 'custom', 'none'])
export type Subscription = z.infer<typeof SubscriptionSchema>

// What each choice covers is the follower rule in notifications/fan-out.ts.
