import { and, eq, getTableName, sql } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { once } from '../db/raw.ts'
import { followers, partnerAvatars, partners, users } from '../db/schema.ts'
import { followerWebhook } from '../webhooks/emit.ts'
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
  followerWebhook(tx, { follower: row, now: input.now })
  return { row, created: true }
}

export function findFollower(tx: Tx, recordId: number, partnerId: number): FollowerRow | undefined {
  // Every post checks its author this way: built once per connection.
  const query = once(tx, 'followers.find', () =>
    tx
      .select()
      .from(followers)
      .where(
        and(
          eq(followers.recordId, sql.placeholder('recordId')),
          eq(followers.partnerId, sql.placeholder('partnerId')),
        ),
      )
      .prepare(),
  )
  return query.get({ recordId, partnerId })
}

/** Whether a partner follows a record: every read of an `own` record asks, so built once per connection. */
export function isFollower(tx: Tx, recordId: number, partnerId: number): boolean {
  const query = once(tx, 'followers.isFollower', () =>
    tx
      .select({ id: followers.id })
      .from(followers)
      .where(
        and(
          eq(followers.recordId, sql.placeholder('recordId')),
          eq(followers.partnerId, sql.placeholder('partnerId')),
        ),
      )
      .prepare(),
  )
  return query.get({ recordId, partnerId }) !== undefined
}

export function unfollow(tx: Tx, recordId: number, partnerId: number): boolean {
  return (
    tx
      .delete(followers)
      .where(and(eq(followers.recordId, recordId), eq(followers.partnerId, partnerId)))
      .run().changes > 0
  )
}

type FollowerWithPartnerRow = {
  id: number
  partnerId: number
  subscription: Subscription
  subtypes: string
  name: string
  email: string | null
  companyName: string | null
  internal: number
  partnerActive: number
  userId: number | null
  userActive: number | null
  notification: 'inbox' | 'email' | null
  createdAt: number
  /** When the partner's picture last changed; null without one. */
  avatarAt: number | null
}

/**
 * Followers with what notifying them needs: internal or not, email, and their user's preference.
 * The followers list reads this; posts tell followers in SQL (notifications/fan-out.ts).
 */
export function followersWithPartners(tx: Tx, recordId: number) {
  const statement = once(tx, 'followers.withPartners', (sqlite) =>
    sqlite.prepare<[number], FollowerWithPartnerRow>(
      `select f.id, f.partner_id as partnerId, f.subscription, f.subtypes, p.name, p.email,
              p.company_name as companyName, p.internal, p.active as partnerActive, u.id as userId,
              u.active as userActive, u.notification, f.created_at as createdAt,
              (select a.updated_at from ${getTableName(partnerAvatars)} a where a.partner_id = p.id) as avatarAt
         from ${getTableName(followers)} f
         join ${getTableName(partners)} p on p.id = f.partner_id
         left join ${getTableName(users)} u on u.partner_id = p.id
        where f.record_id = ?
        order by f.id`,
    ),
  )
  return statement.all(recordId).map((row) => ({
    ...row,
    subtypes: JSON.parse(row.subtypes) as string[],
    internal: row.internal === 1,
    partnerActive: row.partnerActive === 1,
    userActive: row.userActive === null ? null : row.userActive === 1,
  }))
}
