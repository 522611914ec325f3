import { reachesPartner } from '../policies/internal.ts'

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

/** inbox for users who chose it; email for the others and for partners without a user. */
export function channelOf(candidate: Candidate): 'inbox' | 'email' {
  return candidate.userId !== null && candidate.notification === 'inbox' ? 'inbox' : 'email'
}

/**
 * The explicit recipients of a message (mentioned partners, a newly assigned user): told whether or
 * not they follow, minus the author and inactive partners and users. An internal message never
 * reaches an external partner, explicit or not: the post command refuses such mentions
 * first; this is the last line. Followers are told by `fanOutToFollowers` (fan-out.ts).
 */
export function explicitRecipients(input: {
  explicit: (Candidate & { reason: 'mention' | 'assigned' })[]
  internal: boolean
  /** A log note: told in the inbox whatever they chose, and only people with a user have one. */
  inboxOnly?: boolean
  authorPartnerId: number | null
}): Recipient[] {
  const chosen = new Map<number, Recipient>()
  for (const candidate of input.explicit) {
    if (candidate.partnerId === input.authorPartnerId || chosen.has(candidate.partnerId)) continue
    if (!candidate.partnerActive || candidate.userActive === false) continue
    if (!reachesPartner(input, candidate)) continue
    if (input.inboxOnly && candidate.userId === null) continue
    chosen.set(candidate.partnerId, {
      partnerId: candidate.partnerId,
      name: candidate.name,
      email: candidate.email,
      userId: candidate.userId,
      channel: input.inboxOnly ? 'inbox' : channelOf(candidate),
      reason: candidate.reason,
    })
  }
  return [...chosen.values()]
}
