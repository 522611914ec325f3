import { eq, inArray, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { once } from '../../db/raw.ts'
import { ochatChannels, ochatConnections, partners } from '../../db/schema.ts'
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
