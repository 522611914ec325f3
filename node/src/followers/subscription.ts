import { z } from 'zod'

export const SubscriptionSchema = z.enum(['all', 'comments', 'custom', 'none'])
export type Subscription = z.infer<typeof SubscriptionSchema>

/**
 * Whether a follower's choice covers a message of this subtype:
 * - all: every subtype (external partners: the non-internal ones only);
 * - comments: discussions only ("Send message"), no system messages;
 * - custom: the subtypes they picked (picking a parent, e.g. all updates, includes its children);
 * - none: listed as a follower, told nothing.
 * Internal subtypes never reach external partners, whatever they chose (invariant 10).
 */
export function coversSubtype(
  follower: { subscription: Subscription; subtypes: string[] },
  subtype: { key: string; internal: boolean; parentKey?: string | null },
  partnerInternal: boolean,
): boolean {
  if (subtype.internal && !partnerInternal) return false
  switch (follower.subscription) {
    case 'all':
      return true
    case 'comments':
      return subtype.key === 'comment'
    case 'custom':
      return (
        follower.subtypes.includes(subtype.key) ||
        (subtype.parentKey != null && follower.subtypes.includes(subtype.parentKey))
      )
    case 'none':
      return false
  }
}
