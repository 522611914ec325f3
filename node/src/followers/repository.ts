import { and, asc, eq } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { followers, partners, users } from '../db/schema.ts'
import type { Subscription } from './subscription.ts'

export type FollowerRow = typeof followers.$inferSelect

/**
 * Adds a follower. `keep` leaves an existing follower's choice alone (auto-follow never overrides what
 * someone chose, "not following" included); `replace` sets it.
 */
export function follow(
  tx: Tx,
  input: {
    recordId: number
    partnerId: number
    subscription: Subscription
    subtypes?: string[]
    now: number
    existing: 'keep' | 'replace'
  },
): { row: FollowerRow; created: boolean } {
  const current = findFollower(tx, input.recordId, input.partnerId)
  if (current && input.existing === 'keep') return { row: current, created: false }
  if (current) {
    const row = tx
      .update(followers)
      .set({ subscription: input.subscription, subtypes: input.subtypes ?? [] })
      .where(eq(followers.id, current.id))
      .returning()
      .get()
    return { row: row ?? current, created: false }
  }
  const row = tx
    .insert(followers)
    .values({
      recordId: input.recordId,
      partnerId: input.partnerId,
      subscription: input.subscription,
      subtypes: input.subtypes ?? [],
      createdAt: input.now,
    })
    .returning()
    .get()
  return { row, created: true }
}

export function findFollower(tx: Tx, recordId: number, partnerId: number): FollowerRow | undefined {
  return tx
    .select()
    .from(followers)
    .where(and(eq(followers.recordId, recordId), eq(followers.partnerId, partnerId)))
    .get()
}

export function unfollow(tx: Tx, recordId: number, partnerId: number): boolean {
  return (
    tx
      .delete(followers)
      .where(and(eq(followers.recordId, recordId), eq(followers.partnerId, partnerId)))
      .run().changes > 0
  )
}

/** Followers with what notifying them needs: internal or not, email, and their user's preference. */
export function followersWithPartners(tx: Tx, recordId: number) {
  return tx
    .select({
      id: followers.id,
      partnerId: followers.partnerId,
      subscription: followers.subscription,
      subtypes: followers.subtypes,
      name: partners.name,
      email: partners.email,
      companyName: partners.companyName,
      internal: partners.internal,
      partnerActive: partners.active,
      userId: users.id,
      userActive: users.active,
      notification: users.notification,
      createdAt: followers.createdAt,
    })
    .from(followers)
    .innerJoin(partners, eq(partners.id, followers.partnerId))
    .leftJoin(users, eq(users.partnerId, partners.id))
    .where(eq(followers.recordId, recordId))
    .orderBy(asc(followers.id))
    .all()
}
export type FollowerWithPartner = ReturnType<typeof followersWithPartners>[number]
