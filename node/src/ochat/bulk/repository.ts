import { and, desc, eq, inArray, lt } from 'drizzle-orm'
import type { Principal } from '../../auth/principal.ts'
import type { Tx } from '../../db/client.ts'
import { ochatBulkSends, ochatChannels, ochatConnections, ochatMessages, partners } from '../../db/schema.ts'
import { NodeError } from '../../errors.ts'
import { visibleBulkCondition } from '../../policies/index.ts'
import type { BulkRecipient } from './presenter.ts'

export type BulkRow = typeof ochatBulkSends.$inferSelect

/** A bulk send by id, whoever may see it (the policies module's visibleBulk decides that). */
export function findBulk(tx: Tx, id: string): BulkRow | undefined {
  return tx.select().from(ochatBulkSends).where(eq(ochatBulkSends.id, id)).get()
}

/**
 * A page of the principal's bulk sends (every one for admins), newest first. Bulk ids are
 * time-ordered UUIDs (v7), so the id is both the order and the cursor.
 */
export function listBulks(
  tx: Tx,
  principal: Principal,
  input: { cursor?: string | undefined; limit: number },
): { rows: BulkRow[]; nextCursor: string | null } {
  const before = input.cursor === undefined ? undefined : decodeBulkCursor(input.cursor)
  const rows = tx
    .select()
    .from(ochatBulkSends)
    .where(
      and(visibleBulkCondition(principal), before === undefined ? undefined : lt(ochatBulkSends.id, before)),
    )
    .orderBy(desc(ochatBulkSends.id))
    .limit(input.limit + 1)
    .all()
  const page = rows.slice(0, input.limit)
  const last = page.at(-1)
  return {
    rows: page,
    nextCursor: rows.length > input.limit && last ? Buffer.from(last.id).toString('base64url') : null,
  }
}

function decodeBulkCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString('utf8')
  if (!/^[0-9a-f-]{36}$/.test(id))
    throw new NodeError('E_INVALID_PARAMS', 'cursor: not a cursor this API gave out')
  return id
}

/** Every recipient's message of these bulk sends, with the connection it went to, by bulk id. */
export function bulkRecipients(tx: Tx, bulkIds: string[]): Map<string, BulkRecipient[]> {
  const byBulk = new Map<string, BulkRecipient[]>()
  if (bulkIds.length === 0) return byBulk
  const rows = tx
    .select({
      message: ochatMessages,
      peerInstanceId: ochatConnections.peerInstanceId,
      peerName: ochatConnections.peerName,
      transport: ochatConnections.transport,
      contactId: ochatConnections.contactPartnerId,
      contactName: partners.name,
    })
    .from(ochatMessages)
    .innerJoin(ochatChannels, eq(ochatChannels.id, ochatMessages.channelId))
    .innerJoin(ochatConnections, eq(ochatConnections.id, ochatChannels.connectionId))
    .leftJoin(partners, eq(partners.id, ochatConnections.contactPartnerId))
    .where(and(inArray(ochatMessages.bulkId, bulkIds), eq(ochatMessages.direction, 'out')))
    .orderBy(ochatMessages.id)
    .all()
  for (const row of rows) {
    const bulkId = row.message.bulkId
    if (bulkId === null) continue
    const list = byBulk.get(bulkId)
    if (list) list.push(row)
    else byBulk.set(bulkId, [row])
  }
  return byBulk
}
