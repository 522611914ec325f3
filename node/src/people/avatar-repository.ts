import { eq, inArray } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { partnerAvatars } from '../db/schema.ts'

export type AvatarRow = typeof partnerAvatars.$inferSelect

export function findAvatar(tx: Tx, partnerId: number): AvatarRow | undefined {
  return tx.select().from(partnerAvatars).where(eq(partnerAvatars.partnerId, partnerId)).get()
}

/** When each given partner's picture last changed; partners without one are absent. */
export function avatarVersions(tx: Tx, partnerIds: readonly number[]): Map<number, number> {
  if (partnerIds.length === 0) return new Map()
  const rows = tx
    .select({ partnerId: partnerAvatars.partnerId, updatedAt: partnerAvatars.updatedAt })
    .from(partnerAvatars)
    .where(inArray(partnerAvatars.partnerId, [...new Set(partnerIds)]))
    .all()
  return new Map(rows.map((row) => [row.partnerId, row.updatedAt]))
}

/** The picture's update time, or null without one. */
export function avatarVersion(tx: Tx, partnerId: number): number | null {
  return avatarVersions(tx, [partnerId]).get(partnerId) ?? null
}

export function upsertAvatar(tx: Tx, row: AvatarRow): void {
  tx.insert(partnerAvatars)
    .values(row)
    .onConflictDoUpdate({
      target: partnerAvatars.partnerId,
      set: { mime: row.mime, bytes: row.bytes, updatedAt: row.updatedAt },
    })
    .run()
}

export function deleteAvatar(tx: Tx, partnerId: number): void {
  tx.delete(partnerAvatars).where(eq(partnerAvatars.partnerId, partnerId)).run()
}
