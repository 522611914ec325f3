import { and, eq, inArray, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { once } from '../../db/raw.ts'
import { ochatChannels, ochatConnections, ochatMessages, partners } from '../../db/schema.ts'
import { ochatConnectionWebhook } from '../../webhooks/emit.ts'

export type ConnectionRow = typeof ochatConnections.$inferSelect
export type ConnectionState = ConnectionRow['state']

// Rows only: what a relay's view of a connection may change here is decided in
// apply-connection-view.ts, and who may see a connection in policies/ochat.ts.

/** Read for every message both ways, so prepared once (db/raw.ts). */
export function findConnection(tx: Tx, id: string): ConnectionRow | undefined {
  return once(tx, 'ochat.connection.byId', () =>
    tx
      .select()
      .from(ochatConnections)
      .where(eq(ochatConnections.id, sql.placeholder('id')))
      .prepare(),
  ).get({ id })
}

export function allConnections(tx: Tx): ConnectionRow[] {
  return tx.select().from(ochatConnections).all()
}

/** Connections in `states` (every one when absent), last changed first. */
export function listConnections(
  tx: Tx,
  filter: { states?: readonly ConnectionState[] | undefined } = {},
): ConnectionRow[] {
  const { states } = filter
  return allConnections(tx)
    .filter((row) => states === undefined || states.includes(row.state))
    .sort((a, b) => b.updatedAt - a.updatedAt)
}

export function insertConnection(tx: Tx, values: typeof ochatConnections.$inferInsert): ConnectionRow {
  const row = tx.insert(ochatConnections).values(values).returning().get()
  ochatConnectionWebhook(tx, row)
  return row
}

export function updateConnection(
  tx: Tx,
  id: string,
  set: Partial<Omit<typeof ochatConnections.$inferInsert, 'id'>>,
): ConnectionRow | undefined {
  const row = tx.update(ochatConnections).set(set).where(eq(ochatConnections.id, id)).returning().get()
  // Integrators hear of what changes the connection's standing, not of every refresh of its row.
  if (row && (set.state !== undefined || set.keyChangedAt !== undefined)) ochatConnectionWebhook(tx, row)
  return row
}

/** The names of the contacts connections are filed under, by partner id. */
export function contactNames(tx: Tx, partnerIds: number[]): Map<number, string> {
  if (partnerIds.length === 0) return new Map()
  return new Map(
    tx
      .select({ id: partners.id, name: partners.name })
      .from(partners)
      .where(inArray(partners.id, partnerIds))
      .all()
      .map((partner) => [partner.id, partner.name]),
  )
}

/** The channel of each connection that has one, by connection id. */
export function channelIdsOf(tx: Tx, connectionIds: string[]): Map<string, number> {
  if (connectionIds.length === 0) return new Map()
  return new Map(
    tx
      .select({ id: ochatChannels.id, connectionId: ochatChannels.connectionId })
      .from(ochatChannels)
      .where(inArray(ochatChannels.connectionId, connectionIds))
      .all()
      .map((channel) => [channel.connectionId, channel.id]),
  )
}

/** Outgoing messages a partner has yet to receive: how many, and when the oldest was written. */
export type Waiting = { count: number; oldestAt: number | null }

/**
 * What waits to reach each channel's partner, by channel id: messages in our outbox, retrying, or (over
 * the relay) stored there until the partner's node takes them. An email that left is as far as it goes.
 */
export function waitingByChannel(tx: Tx, channels: { id: number; byEmail: boolean }[]): Map<number, Waiting> {
  const waiting = new Map<number, Waiting>(
    channels.map((channel) => [channel.id, { count: 0, oldestAt: null }]),
  )
  if (channels.length === 0) return waiting
  const byEmail = new Set(channels.filter((channel) => channel.byEmail).map((channel) => channel.id))
  const found = tx
    .select({
      channelId: ochatMessages.channelId,
      status: ochatMessages.status,
      count: sql<number>`count(*)`,
      oldestAt: sql<number>`min(${ochatMessages.createdAt})`,
    })
    .from(ochatMessages)
    .where(
      and(
        inArray(
          ochatMessages.channelId,
          channels.map((channel) => channel.id),
        ),
        // As literals, as the partial index ochat_messages_waiting is written: bound values would keep
        // SQLite from using it.
        sql`${ochatMessages.direction} = 'out' and ${ochatMessages.status} in ('pending', 'sent', 'retrying')`,
      ),
    )
    .groupBy(ochatMessages.channelId, ochatMessages.status)
    .all()
  for (const row of found) {
    const entry = waiting.get(row.channelId)
    if (!entry || (row.status === 'sent' && byEmail.has(row.channelId))) continue
    entry.count += Number(row.count)
    entry.oldestAt = entry.oldestAt === null ? row.oldestAt : Math.min(entry.oldestAt, row.oldestAt)
  }
  return waiting
}
