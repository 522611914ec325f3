import { coversSubtype, type Subscription } from '../followers/subscription.ts'

/** A partner as recipient computation sees it. */
export type Candidate = {
  partnerId: number
  name: string
  email: string | null
  internal: boolean
  partnerActive: boolean
  userId: number | null
  userActive: boolean | null
  notification: 'inbox' | 'email' | null
}

export type Recipient = {
  partnerId: number
  name: string
  email: string | null
  userId: number | null
  /** inbox for users who chose it; email for the others and for partners without a user. */
  channel: 'inbox' | 'email'
  /**
   * mention: named in the message (told whether or not they follow); message: a follower;
   * assigned: made responsible for the record; activity: given an activity by someone else.
   */
  reason: 'message' | 'mention' | 'assigned' | 'activity'
}

/**
 * Who is told about a message (Odoo's rule, mission-anchors (b)1):
 *   followers subscribed to the message's subtype (external partners dropped for internal subtypes)
 *   ∪ explicit partners (mentions, a newly assigned user), whether or not they follow
 *   − the author − inactive partners and users.
 * An internal message never reaches an external partner, explicit or not (invariant 10): the
 * post command refuses such mentions first; this is the last line.
 */
export function computeRecipients(input: {
  followers: (Candidate & { subscription: Subscription; subtypes: string[] })[]
  explicit: (Candidate & { reason: 'mention' | 'assigned' })[]
  subtype: { key: string; internal: boolean; parentKey?: string | null }
  authorPartnerId: number | null
}): Recipient[] {
  const chosen = new Map<number, Recipient>()
  const admit = (candidate: Candidate, reason: Recipient['reason']) => {
    if (candidate.partnerId === input.authorPartnerId) return
    if (!candidate.partnerActive || candidate.userActive === false) return
    if (input.subtype.internal && !candidate.internal) return
    const existing = chosen.get(candidate.partnerId)
    if (existing) {
      // Being named is the stronger reason: it shows as a mention in the inbox.
      if (reason !== 'message') existing.reason = reason
      return
    }
    chosen.set(candidate.partnerId, {
      partnerId: candidate.partnerId,
      name: candidate.name,
      email: candidate.email,
      userId: candidate.userId,
      channel: candidate.userId !== null && candidate.notification === 'inbox' ? 'inbox' : 'email',
      reason,
    })
  }
  for (const follower of input.followers)
    if (coversSubtype(follower, input.subtype, follower.internal)) admit(follower, 'message')
  for (const partner of input.explicit) admit(partner, partner.reason)
  return [...chosen.values()]
}
