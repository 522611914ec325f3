import { and, eq, inArray } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { ochatChannelMembers, ochatChannels, users } from '../../db/schema.ts'

export type ChannelRow = typeof ochatChannels.$inferSelect

export function channelOfConnection(tx: Tx, connectionId: string): ChannelRow | undefined {
  return tx.select().from(ochatChannels).where(eq(ochatChannels.connectionId, connectionId)).get()
}

export function findChannel(tx: Tx, id: number): ChannelRow | undefined {
  return tx.select().from(ochatChannels).where(eq(ochatChannels.id, id)).get()
}

/**
 * The channel of an accepted connection, created on first need. Every active user at that moment
 * becomes a member (the channel is the company's conversation with a partner company); admins manage
 * membership afterwards.
 */
export function ensureChannel(
  tx: Tx,
  connectionId: string,
  nowMs: number,
): { channel: ChannelRow; created: boolean } {
  const existing = channelOfConnection(tx, connectionId)
  if (existing) return { channel: existing, created: false }
  const channel = tx
    .insert(ochatChannels)
    .values({ connectionId, lastActivityAt: nowMs, createdAt: nowMs })
    .returning()
    .get()
  const members = tx.select({ id: users.id }).from(users).where(eq(users.active, true)).all()
  if (members.length > 0)
    tx.insert(ochatChannelMembers)
      .values(members.map((member) => ({ channelId: channel.id, userId: member.id, addedAt: nowMs })))
      .run()
  return { channel, created: true }
}

export function memberIds(tx: Tx, channelId: number): number[] {
  return tx
    .select({ userId: ochatChannelMembers.userId })
    .from(ochatChannelMembers)
    .where(eq(ochatChannelMembers.channelId, channelId))
    .all()
    .map((row) => row.userId)
}

export function isMember(tx: Tx, channelId: number, userId: number): boolean {
  return (
    tx
      .select({ userId: ochatChannelMembers.userId })
      .from(ochatChannelMembers)
      .where(and(eq(ochatChannelMembers.channelId, channelId), eq(ochatChannelMembers.userId, userId)))
      .get() !== undefined
  )
}

/** Members of several channels at once, by channel. */
export function membersOfChannels(tx: Tx, channelIds: number[]): Map<number, number[]> {
  const byChannel = new Map<number, number[]>()
  if (channelIds.length === 0) return byChannel
  for (const row of tx
    .select()
    .from(ochatChannelMembers)
    .where(inArray(ochatChannelMembers.channelId, channelIds))
    .all())
    byChannel.set(row.channelId, [...(byChannel.get(row.channelId) ?? []), row.userId])
  return byChannel
}

export function touchChannel(tx: Tx, channelId: number, nowMs: number): void {
  tx.update(ochatChannels).set({ lastActivityAt: nowMs }).where(eq(ochatChannels.id, channelId)).run()
}
