import { and, count, desc, eq, inArray, isNull, lt, sql } from 'drizzle-orm'
import type { Principal } from '../../auth/principal.ts'
import { plainText } from '../../chatter/body.ts'
import type { Tx } from '../../db/client.ts'
import {
  ochatChannelMembers,
  ochatChannels,
  ochatConnections,
  ochatMessages,
  ochatNotifications,
  partners,
} from '../../db/schema.ts'
import { NodeError } from '../../errors.ts'
import type { ModelRegistry } from '../../models/registry.ts'
import { loadRecord } from '../../records/access.ts'
import { filesOf } from '../delivery/payload.ts'
import type { MessageRow } from '../delivery/status.ts'
import { type ChannelView, type OchatMessageView, presentMessage } from './presenter.ts'
import { findChannel, isMember } from './repository.ts'

/** Channels the principal sees (members; admins see all), most recent activity first, with unread counts. */
export function listChannels(tx: Tx, principal: Principal): ChannelView[] {
  const admin = principal.role === 'admin'
  const rows = tx
    .select({ channel: ochatChannels, connection: ochatConnections, contactName: partners.name })
    .from(ochatChannels)
    .innerJoin(ochatConnections, eq(ochatConnections.id, ochatChannels.connectionId))
    .leftJoin(partners, eq(partners.id, ochatConnections.contactPartnerId))
    .where(
      admin
        ? undefined
        : inArray(
            ochatChannels.id,
            tx
              .select({ id: ochatChannelMembers.channelId })
              .from(ochatChannelMembers)
              .where(eq(ochatChannelMembers.userId, principal.userId)),
          ),
    )
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
  return rows.map(({ channel, connection, contactName }) => {
    const message = last.get(channel.id)
    return {
      id: channel.id,
      connectionId: connection.id,
      peer: { instanceId: connection.peerInstanceId, name: connection.peerName },
      contact:
        connection.contactPartnerId !== null && contactName !== null
          ? { id: connection.contactPartnerId, name: contactName }
          : null,
      state: connection.state,
      paused: connection.keyChangedAt !== null,
      unread: unread.get(channel.id) ?? 0,
      lastActivityAt: channel.lastActivityAt,
      lastMessage: message
        ? {
            id: message.id,
            direction: message.direction,
            preview: plainText(message.html).slice(0, 120),
            status: message.status,
            at: message.createdAt,
          }
        : null,
    }
  })
}

/** A channel the principal may read, or "not found" (invariant 11). */
export function readableChannel(tx: Tx, principal: Principal, channelId: number) {
  const channel = findChannel(tx, channelId)
  if (!channel || (principal.role !== 'admin' && !isMember(tx, channelId, principal.userId)))
    throw new NodeError('E_NOT_FOUND')
  return channel
}

/**
 * Messages with their files and record names, presented for `viewer`. A message filed on one of our
 * records that the viewer may not read shows no record at all (invariant 11): channel members are not
 * all allowed to see every record someone wrote to a partner about.
 */
export function presentMessages(
  tx: Tx,
  rows: MessageRow[],
  viewer: { principal: Principal; registry: ModelRegistry },
): OchatMessageView[] {
  if (rows.length === 0) return []
  const files = filesOf(
    tx,
    rows.map((row) => row.id),
  )
  const recordIds = [...new Set(rows.flatMap((row) => (row.recordId === null ? [] : [row.recordId])))]
  const names = new Map<number, string>()
  for (const recordId of recordIds) {
    try {
      names.set(recordId, loadRecord(tx, { ...viewer, recordId }).record.name)
    } catch (error) {
      // Missing, or not the viewer's to see: the same to them.
      if (!(error instanceof NodeError)) throw error
    }
  }
  return rows.map((row) => {
    const name = row.recordId === null ? undefined : names.get(row.recordId)
    return presentMessage(
      name === undefined ? { ...row, recordId: null } : row,
      files.get(row.id) ?? [],
      name ?? null,
    )
  })
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
