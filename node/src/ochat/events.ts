import { and, eq } from 'drizzle-orm'
import type { Db, Tx } from '../db/client.ts'
import { once } from '../db/raw.ts'
import { users } from '../db/schema.ts'
import type { LiveEvent } from '../live/events.ts'
import type { LiveHub } from '../live/hub.ts'
import { membersOfChannels } from './channels/repository.ts'
import { type MessageRow, statusAt } from './delivery/status.ts'

export type ChangedMessage = { row: MessageRow; channelId: number }

/**
 * O'Chat's live events, after the commits that caused them: message statuses to the members of each
 * message's channel, list-level changes to the users concerned (live/routes.ts lets only keys with
 * `ochat:read` hear them).
 */
export class OchatEvents {
  constructor(
    private readonly db: Db,
    private readonly live: LiveHub,
  ) {}

  /**
   * New or moved messages, to the members of each message's channel; for messages of a bulk send,
   * that its summary changed, to those who may read it (its author and administrators).
   */
  messages(changes: ChangedMessage[]): void {
    if (changes.length === 0) return
    const events = messageEvents(this.db, changes)
    const bulks = new Map<string, number>()
    for (const { row } of changes)
      if (row.bulkId !== null && row.direction === 'out' && row.authorUserId !== null)
        bulks.set(row.bulkId, row.authorUserId)
    if (bulks.size > 0) {
      const admins = activeAdmins(this.db)
      for (const [bulkId, author] of bulks)
        for (const userId of new Set([author, ...admins]))
          events.push({ scope: 'user', userId, type: 'ochat.bulk', bulkId })
    }
    this.live.publish({ events })
  }

  /** Messages that just arrived: each member hears the message and that their channel list changed. */
  arrived(added: (ChangedMessage & { members: number[] })[]): void {
    const events: LiveEvent[] = []
    for (const { row, channelId, members } of added)
      for (const userId of members) {
        events.push(messageEvent(userId, channelId, row))
        events.push({ scope: 'user', userId, type: 'ochat.channels' })
      }
    this.live.publish({ events })
  }

  /** These users' channel list changed (unread counts, order). */
  channels(userIds: number[]): void {
    this.live.publish({
      events: userIds.map((userId) => ({ scope: 'user' as const, userId, type: 'ochat.channels' as const })),
    })
  }

  /** A list-level change every active user may see. */
  toAll(type: 'ochat.channels' | 'ochat.connections' | 'ochat.registration'): void {
    const ids = this.db.select({ id: users.id }).from(users).where(eq(users.active, true)).all()
    this.live.publish({ events: ids.map((user) => ({ scope: 'user' as const, userId: user.id, type })) })
  }
}

/**
 * Each changed message, to the members of its channel. Also for what tells people outside this class
 * (the mail sender, which moves an email channel's messages).
 */
export function messageEvents(db: Tx, changes: ChangedMessage[]): LiveEvent[] {
  if (changes.length === 0) return []
  const members = membersOfChannels(db, [...new Set(changes.map((change) => change.channelId))])
  const events: LiveEvent[] = []
  for (const { row, channelId } of changes)
    for (const userId of members.get(channelId) ?? []) events.push(messageEvent(userId, channelId, row))
  return events
}

/** Active administrators' user ids. */
function activeAdmins(db: Db): number[] {
  return once(db, 'ochat.events.admins', () =>
    db
      .select({ id: users.id })
      .from(users)
      .where(and(eq(users.role, 'admin'), eq(users.active, true)))
      .prepare(),
  )
    .all()
    .map((user) => user.id)
}

export function messageEvent(userId: number, channelId: number, row: MessageRow): LiveEvent {
  return {
    scope: 'user',
    userId,
    type: 'ochat.message',
    channelId,
    messageId: row.id,
    status: row.status,
    at: statusAt(row),
    ...(row.nextAttemptAt !== null && row.status === 'retrying' ? { nextAttemptAt: row.nextAttemptAt } : {}),
    ...(row.statusReason ? { reason: row.statusReason } : {}),
  }
}
