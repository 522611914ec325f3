import { LIMITS, newId } from '@ochat/shared-protocol'
import { and, desc, eq, isNotNull } from 'drizzle-orm'
import type { AttachmentRow } from '../../attachments/repository.ts'
import type { Principal } from '../../auth/principal.ts'
import type { Tx } from '../../db/client.ts'
import { ochatFiles, ochatMessages } from '../../db/schema.ts'
import { NodeError } from '../../errors.ts'
import type { ModelRegistry } from '../../models/registry.ts'
import { loadAttachment, readableChannel } from '../../policies/index.ts'
import { findConnection } from '../connections/repository.ts'
import { insertMessage, type MessageRow } from '../delivery/status.ts'
import { queuePartnerEmail } from '../email/queue-email.ts'
import { touchChannel } from './repository.ts'

/** The files of an outgoing message, checked against O'Chat's limits before anything is written or uploaded. */
export function checkFiles(
  tx: Tx,
  input: { principal: Principal; registry: ModelRegistry; attachmentIds: number[] },
): AttachmentRow[] {
  const ids = [...new Set(input.attachmentIds)]
  if (ids.length > LIMITS.attachmentsPerMessage)
    throw new NodeError(
      'E_OCHAT_ATTACHMENT_LIMIT',
      `${ids.length} files: at most ${LIMITS.attachmentsPerMessage} per message`,
    )
  const rows = ids.map((id) =>
    loadAttachment(tx, { principal: input.principal, registry: input.registry, id }),
  )
  const large = rows.find((row) => row.size > LIMITS.attachmentBytes)
  if (large)
    throw new NodeError(
      'E_OCHAT_ATTACHMENT_LIMIT',
      `"${large.fileName}" has ${large.size} bytes: at most 100 MB per file`,
    )
  const total = rows.reduce((sum, row) => sum + row.size, 0)
  if (total > LIMITS.messageAttachmentBytes)
    throw new NodeError(
      'E_OCHAT_ATTACHMENT_LIMIT',
      `the files add up to ${total} bytes: at most 500 MB per message`,
    )
  return rows
}

/** A channel the principal may write to now: a member (or an admin), accepted, not paused. */
export function writableChannel(tx: Tx, principal: Principal, channelId: number) {
  const channel = readableChannel(tx, principal, channelId)
  const connection = findConnection(tx, channel.connectionId)
  if (connection?.state !== 'accepted')
    throw new NodeError(
      'E_OCHAT_CONNECTION_STATE',
      `the connection is ${connection?.state ?? 'gone'}: messages cannot be sent`,
    )
  if (connection.keyChangedAt !== null) throw new NodeError('E_OCHAT_CHANNEL_PAUSED')
  return { channel, connection }
}

/**
 * The peer's record a thread about our record continues: the latest record they named on this
 * channel in a message filed on our record. Replies carry it, so they land on their record too.
 */
export function peerRecordOf(tx: Tx, channelId: number, recordId: number) {
  return (
    tx
      .select({ peerRecord: ochatMessages.peerRecord })
      .from(ochatMessages)
      .where(
        and(
          eq(ochatMessages.channelId, channelId),
          eq(ochatMessages.recordId, recordId),
          isNotNull(ochatMessages.peerRecord),
        ),
      )
      .orderBy(desc(ochatMessages.id))
      .get()?.peerRecord ?? null
  )
}

/**
 * Writes an outgoing message per channel (one for a message, several for a bulk send) with its files,
 * into the outbox: due now when it has no files, or once its files are uploaded. Nothing leaves the
 * process here; the caller kicks the outbox after the commit.
 */
export function writeMessages(
  tx: Tx,
  input: {
    principal: Principal
    channelIds: number[]
    /** Sanitized HTML. */
    html: string
    files: AttachmentRow[]
    /** Our record the message is about. */
    recordId: number | null
    bulkId: string | null
    /** Our company, as shown beside the author. */
    company: string
    now: number
  },
): MessageRow[] {
  const rows: MessageRow[] = []
  for (const channelId of input.channelIds) {
    const { channel, connection } = writableChannel(tx, input.principal, channelId)
    // An email channel's message leaves as an email (its files attached), never through the outbox.
    const byEmail = connection.transport === 'email'
    const row = insertMessage(tx, {
      channelId: channel.id,
      direction: 'out',
      envelopeId: newId(input.now),
      authorUserId: input.principal.userId,
      authorName: input.principal.name,
      authorCompany: input.company,
      html: input.html,
      recordId: input.recordId,
      peerRecord: input.recordId === null ? null : peerRecordOf(tx, channel.id, input.recordId),
      inReplyTo: null,
      bulkId: input.bulkId,
      status: 'pending',
      seq: null,
      createdAt: input.now,
      sentAt: null,
      outboxDueAt: byEmail || input.files.length > 0 ? null : input.now,
    })
    if (input.files.length > 0)
      tx.insert(ochatFiles)
        .values(
          input.files.map((file, position) => ({
            messageId: row.id,
            position,
            attachmentId: file.id,
            name: file.fileName,
            mimeType: file.mimeType.split(';')[0]?.trim() || 'application/octet-stream',
            size: file.size,
            sha256: /^[0-9a-f]{64}$/.test(file.sha256)
              ? Buffer.from(file.sha256, 'hex').toString('base64url')
              : file.sha256,
            // Nothing to upload for an email: the file is attached from this node's storage.
            state: byEmail ? ('ready' as const) : ('pending' as const),
          })),
        )
        .run()
    if (byEmail) queuePartnerEmail(tx, { row, connection, company: input.company, now: input.now })
    touchChannel(tx, channel.id, input.now)
    rows.push(row)
  }
  return rows
}
