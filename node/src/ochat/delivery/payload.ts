import type { MessagePayload, RecordRef } from '@ochat/shared-protocol'
import { asc, eq } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { inList, once } from '../../db/raw.ts'
import { models, ochatFiles, records } from '../../db/schema.ts'
import type { Keystore } from '../identity/keystore.ts'
import type { MessageRow } from './status.ts'

/** Our record as the peer sees it named: model, id and display name. */
export function recordRef(tx: Tx, recordId: number): RecordRef | undefined {
  const row = tx
    .select({ id: records.id, name: records.name, model: models.name })
    .from(records)
    .innerJoin(models, eq(models.id, records.modelId))
    .where(eq(records.id, recordId))
    .get()
  return row ? { model: row.model, id: String(row.id), name: row.name.slice(0, 200) } : undefined
}

/** Files of outgoing messages, in order, by message id. */
export function filesOf(tx: Tx, messageIds: number[]): Map<number, (typeof ochatFiles.$inferSelect)[]> {
  const byMessage = new Map<number, (typeof ochatFiles.$inferSelect)[]>()
  if (messageIds.length === 0) return byMessage
  const query = once(tx, 'ochat.files.ofMessages', () =>
    tx
      .select()
      .from(ochatFiles)
      .where(inList(ochatFiles.messageId, 'messageIds'))
      .orderBy(asc(ochatFiles.messageId), asc(ochatFiles.position))
      .prepare(),
  )
  for (const file of query.all({ messageIds: JSON.stringify(messageIds) }))
    byMessage.set(file.messageId, [...(byMessage.get(file.messageId) ?? []), file])
  return byMessage
}

/**
 * The sealed payload of an outgoing message, rebuilt from its row at each attempt (the envelope id
 * stays, so a repeat is dropped by the relay and by the recipient). Answers undefined while a file
 * is not uploaded yet.
 */
export function buildPayload(
  tx: Tx,
  input: {
    row: MessageRow
    files: (typeof ochatFiles.$inferSelect)[]
    keystore: Keystore
    /** This company's name, as the sender's company. */
    company: string
  },
): MessagePayload | undefined {
  const { row } = input
  if (input.files.some((file) => file.state !== 'ready' || !file.blobId || !file.sealedKey)) return undefined
  const record = row.recordId === null ? undefined : recordRef(tx, row.recordId)
  return {
    v: 1,
    type: 'message',
    envelopeId: row.envelopeId,
    sentAt: row.createdAt,
    sender: { name: row.authorName, company: input.company },
    html: row.html,
    attachments: input.files.map((file) => ({
      blobId: file.blobId as string,
      name: file.name,
      type: file.mimeType,
      size: file.size,
      key: Buffer.from(input.keystore.open(file.sealedKey as string)).toString('base64url'),
      sha256: file.sha256,
    })),
    ...(record ? { record } : {}),
    ...(row.peerRecord ? { peerRecord: row.peerRecord } : {}),
    ...(row.inReplyTo ? { inReplyTo: row.inReplyTo } : {}),
    ...(row.bulkId ? { bulkId: row.bulkId } : {}),
  }
}
