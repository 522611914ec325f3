import { and, desc, eq, inArray, lt } from 'drizzle-orm'
import type { Principal } from '../../auth/principal.ts'
import { plainText } from '../../chatter/body.ts'
import type { Tx } from '../../db/client.ts'
import { ochatBulkSends, ochatChannels, ochatConnections, ochatMessages, partners } from '../../db/schema.ts'
import { NodeError } from '../../errors.ts'
import { nextStep, statusAt } from '../delivery/status.ts'
import type { BulkSummary } from './schema.ts'

type BulkRow = typeof ochatBulkSends.$inferSelect

/** A bulk send the principal may see: their own (admins see every one); anything else is not found. */
export function visibleBulk(tx: Tx, principal: Principal, id: string): BulkRow {
  const row = tx.select().from(ochatBulkSends).where(eq(ochatBulkSends.id, id)).get()
  if (!row || (principal.role !== 'admin' && row.authorUserId !== principal.userId))
    throw new NodeError('E_NOT_FOUND')
  return row
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
      and(
        principal.role === 'admin' ? undefined : eq(ochatBulkSends.authorUserId, principal.userId),
        before === undefined ? undefined : lt(ochatBulkSends.id, before),
      ),
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

/** Each bulk send with every recipient's message, its status, and the counts by status. */
export function presentBulks(tx: Tx, bulks: BulkRow[]): BulkSummary[] {
  if (bulks.length === 0) return []
  const rows = tx
    .select({
      message: ochatMessages,
      peerInstanceId: ochatConnections.peerInstanceId,
      peerName: ochatConnections.peerName,
      contactId: ochatConnections.contactPartnerId,
      contactName: partners.name,
    })
    .from(ochatMessages)
    .innerJoin(ochatChannels, eq(ochatChannels.id, ochatMessages.channelId))
    .innerJoin(ochatConnections, eq(ochatConnections.id, ochatChannels.connectionId))
    .leftJoin(partners, eq(partners.id, ochatConnections.contactPartnerId))
    .where(
      and(
        inArray(
          ochatMessages.bulkId,
          bulks.map((bulk) => bulk.id),
        ),
        eq(ochatMessages.direction, 'out'),
      ),
    )
    .orderBy(ochatMessages.id)
    .all()
  return bulks.map((bulk) => {
    const mine = rows.filter((row) => row.message.bulkId === bulk.id)
    const counts = { pending: 0, sent: 0, delivered: 0, read: 0, retrying: 0, failed: 0 }
    for (const { message } of mine) if (message.status !== 'received') counts[message.status]++
    return {
      id: bulk.id,
      createdAt: bulk.createdAt,
      author: { userId: bulk.authorUserId, name: mine[0]?.message.authorName ?? null },
      preview: plainText(bulk.html).slice(0, 120),
      recipients: bulk.recipients,
      counts,
      items: mine.map(({ message, peerInstanceId, peerName, contactId, contactName }) => ({
        channelId: message.channelId,
        messageId: message.id,
        peer: { instanceId: peerInstanceId, name: peerName },
        contact: contactId !== null && contactName !== null ? { id: contactId, name: contactName } : null,
        status: message.status,
        statusAt: statusAt(message),
        reason: message.status === 'retrying' || message.status === 'failed' ? message.statusReason : null,
        nextStep: nextStep(message),
      })),
    }
  })
}
