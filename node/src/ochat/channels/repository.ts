import { and, eq, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { inList, once } from '../../db/raw.ts'
import { ochatChannelMembers, ochatChannels, users } from '../../db/schema.ts'

export type ChannelRow = typeof ochatChannels.$inferSelect

// The reads and writes below run for every message sent or received, so each is prepared once per
// connection (db/raw.ts): building a query through drizzle costs more than SQLite running it.

export function channelOfConnection(tx: Tx, connectionId: string): ChannelRow | undefined {
  return once(tx, 'ochat.channel.ofConnection', () =>
    tx
      .select()
      .from(ochatChannels)
      .where(eq(ochatChannels.connectionId, sql.placeholder('connectionId')))
      .prepare(),
  ).get({ connectionId })
}

export function findChannel(tx: Tx, id: number): ChannelRow | undefined {
  return once(tx, 'ochat.channel.byId', () =>
    tx
      .select()
      .from(ochatChannels)
      .where(eq(ochatChannels.id, sql.placeholder('id')))
      .prepare(),
  ).get({ id })
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
  const query = once(tx, 'ochat.channel.isMember', () =>
    tx
      .select({ userId: ochatChannelMembers.userId })
      .from(ochatChannelMembers)
      .where(
        and(
          eq(ochatChannelMembers.channelId, sql.placeholder('channelId')),
          eq(ochatChannelMembers.userId, sql.placeholder('userId')),
        ),
      )
      .prepare(),
  )
  return query.get({ channelId, userId }) !== undefined
}

/** Members of several channels at once, by channel. */
export function membersOfChannels(tx: Tx, channelIds: number[]): Map<number, number[]> {
  const byChannel = new Map<number, number[]>()
  if (channelIds.length === 0) return byChannel
  const query = once(tx, 'ochat.channel.membersOf', () =>
    tx
      .select()
      .from(ochatChannelMembers)
      .where(inList(ochatChannelMembers.channelId, 'channelIds'))
      .prepare(),
  )
  for (const row of query.all({ channelIds: JSON.stringify(channelIds) }))
    byChannel.set(row.channelId, [...(byChannel.get(row.channelId) ?? []), row.userId])
  return byChannel
}

export function touchChannel(tx: Tx, channelId: number, nowMs: number): void {
  once(tx, 'ochat.channel.touch', () =>
    tx
      .update(ochatChannels)
      .set({ lastActivityAt: sql`${sql.placeholder('at')}` })
      .where(eq(ochatChannels.id, sql.placeholder('id')))
      .prepare(),
  ).run({ id: channelId, at: nowMs })
}
