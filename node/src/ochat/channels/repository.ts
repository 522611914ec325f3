import { newId } from '@ochat/shared-protocol'
import { and, count, desc, eq, inArray, isNull, lt, or, sql } from 'drizzle-orm'
import type { Principal } from '../../auth/principal.ts'
import type { Tx } from '../../db/client.ts'
import { inList, once } from '../../db/raw.ts'
import {
  ochatChannelMembers,
  ochatChannels,
  ochatConnections,
  ochatMessages,
  ochatNotifications,
  partners,
  users,
} from '../../db/schema.ts'
import { readableChannelCondition } from '../../policies/index.ts'
import type { MessageRow } from '../delivery/status.ts'
import type { ChannelFacts } from './presenter.ts'

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

// Channel lists and messages

/**
 * Channels the principal sees (members; admins see all), most recent activity first, with what their
 * view shows (presenter.ts presentChannel).
 */
export function channelRows(tx: Tx, principal: Principal): ChannelFacts[] {
  const rows = tx
    .select({ channel: ochatChannels, connection: ochatConnections, contactName: partners.name })
    .from(ochatChannels)
    .innerJoin(ochatConnections, eq(ochatConnections.id, ochatChannels.connectionId))
    .leftJoin(partners, eq(partners.id, ochatConnections.contactPartnerId))
    .where(readableChannelCondition(principal, ochatChannels.id))
    .orderBy(desc(ochatChannels.lastActivityAt), desc(ochatChannels.id))
    .all()
  const ids = rows.map((row) => row.channel.id)
  const unread = new Map(
    ids.length === 0
      ? []
      : tx
          .select({ channelId: ochatNotifications.channelId, n: count() })
          .from(ochatNotifications)
          .where(
            and(
              eq(ochatNotifications.userId, principal.userId),
              isNull(ochatNotifications.readAt),
              inArray(ochatNotifications.channelId, ids),
            ),
          )
          .groupBy(ochatNotifications.channelId)
          .all()
          .map((row) => [row.channelId, row.n]),
  )
  const last = new Map(
    ids.length === 0
      ? []
      : tx
          .select()
          .from(ochatMessages)
          .where(
            inArray(
              ochatMessages.id,
              tx
                .select({ id: sql<number>`max(${ochatMessages.id})` })
                .from(ochatMessages)
                .where(inArray(ochatMessages.channelId, ids))
                .groupBy(ochatMessages.channelId),
            ),
          )
          .all()
          .map((row) => [row.channelId, row]),
  )
  return rows.map((row) => ({
    ...row,
    unread: unread.get(row.channel.id) ?? 0,
    lastMessage: last.get(row.channel.id),
  }))
}

/** Which of these channels go by email (their connection's transport). */
export function emailChannelIds(tx: Tx, channelIds: number[]): Set<number> {
  const ids = [...new Set(channelIds)]
  if (ids.length === 0) return new Set()
  return new Set(
    tx
      .select({ id: ochatChannels.id })
      .from(ochatChannels)
      .innerJoin(ochatConnections, eq(ochatConnections.id, ochatChannels.connectionId))
      .where(and(inArray(ochatChannels.id, ids), eq(ochatConnections.transport, 'email')))
      .all()
      .map((row) => row.id),
  )
}

/** A page of a channel's messages, newest first, before the cursor's message id. */
export function channelMessages(
  tx: Tx,
  input: { channelId: number; before: number | undefined; limit: number },
): MessageRow[] {
  return tx
    .select()
    .from(ochatMessages)
    .where(
      and(
        eq(ochatMessages.channelId, input.channelId),
        input.before === undefined ? undefined : lt(ochatMessages.id, input.before),
      ),
    )
    .orderBy(desc(ochatMessages.id))
    .limit(input.limit + 1)
    .all()
}

/**
 * Opening a thread: its incoming messages not yet opened are marked opened now and due for a Read
 * receipt. Answers how many. An email channel has no receipts to send: its messages are only opened
 * (and `read_receipt` 'sent' marks them done, so none is ever looked for).
 */
export function markThreadOpened(
  tx: Tx,
  input: { channelId: number; nowMs: number; receipts: boolean },
): number {
  return tx
    .update(ochatMessages)
    .set({ openedAt: input.nowMs, readReceipt: input.receipts ? 'due' : 'sent' })
    .where(
      and(
        eq(ochatMessages.channelId, input.channelId),
        eq(ochatMessages.direction, 'in'),
        isNull(ochatMessages.readReceipt),
      ),
    )
    .run().changes
}

/** A message sent again: a new envelope id, Pending, due in the outbox now, its attempts forgotten. */
export function resetForRetry(tx: Tx, input: { id: number; nowMs: number }): MessageRow | undefined {
  const { nowMs } = input
  return tx
    .update(ochatMessages)
    .set({
      envelopeId: newId(nowMs),
      status: 'pending',
      statusReason: null,
      nextAttemptAt: null,
      outboxAttempts: 0,
      outboxDueAt: nowMs,
      createdAt: nowMs,
      sentAt: null,
      retryingAt: null,
      failedAt: null,
      seq: null,
    })
    .where(eq(ochatMessages.id, input.id))
    .returning()
    .get()
}

/**
 * A record's O'Chat thread, both ways, newest first (200 at most), in the channels the principal
 * reads.
 */
export function recordThread(tx: Tx, input: { recordId: number; principal: Principal }): MessageRow[] {
  return tx
    .select()
    .from(ochatMessages)
    .where(
      and(
        eq(ochatMessages.recordId, input.recordId),
        readableChannelCondition(input.principal, ochatMessages.channelId),
      ),
    )
    .orderBy(desc(ochatMessages.id))
    .limit(200)
    .all()
}

/** `message` and every other message of its channel about the same record of the peer's. */
export function samePeerRecord(tx: Tx, message: MessageRow): MessageRow[] {
  const peer = message.peerRecord
  // In SQL: a long channel is not read into memory to find the few messages about one record.
  return tx
    .select()
    .from(ochatMessages)
    .where(
      and(
        eq(ochatMessages.channelId, message.channelId),
        peer === null
          ? eq(ochatMessages.id, message.id)
          : or(
              eq(ochatMessages.id, message.id),
              and(
                sql`json_extract(${ochatMessages.peerRecord}, '$.model') = ${peer.model}`,
                sql`json_extract(${ochatMessages.peerRecord}, '$.id') = ${peer.id}`,
              ),
            ),
      ),
    )
    .all()
}

/** Files messages on one of our records. */
export function fileOnRecord(tx: Tx, input: { messageIds: number[]; recordId: number }): void {
  if (input.messageIds.length === 0) return
  tx.update(ochatMessages)
    .set({ recordId: input.recordId })
    .where(inArray(ochatMessages.id, input.messageIds))
    .run()
}
