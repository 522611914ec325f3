import { and, eq } from 'drizzle-orm'
import type { Principal } from '../auth/principal.ts'
import { findMessage } from '../chatter/repository.ts'
import type { Tx } from '../db/client.ts'
import { ochatChannelMembers, ochatFiles, ochatMessages } from '../db/schema.ts'
import { NodeError } from '../errors.ts'
import type { ModelRegistry } from '../models/registry.ts'
import { loadRecord } from '../records/access.ts'
import { type AttachmentRow, findAttachment } from './repository.ts'

function onMembersChannel(tx: Tx, attachmentId: number, userId: number): boolean {
  return (
    tx
      .select({ id: ochatFiles.id })
      .from(ochatFiles)
      .innerJoin(ochatMessages, eq(ochatMessages.id, ochatFiles.messageId))
      .innerJoin(
        ochatChannelMembers,
        and(
          eq(ochatChannelMembers.channelId, ochatMessages.channelId),
          eq(ochatChannelMembers.userId, userId),
        ),
      )
      .where(eq(ochatFiles.attachmentId, attachmentId))
      .get() !== undefined
  )
}

/**
 * An attachment the caller may read: one they uploaded, or one on a record they can read (admins read
 * every record, hence every attachment), or one sent or received by O'Chat on a channel they are a
 * member of, unless its message was deleted. Anything else is "not found", exactly like a missing id
 * (DESIGN.md invariant 11).
 */
export function loadAttachment(
  tx: Tx,
  input: { principal: Principal; registry: ModelRegistry; id: number },
): AttachmentRow {
  const row = findAttachment(tx, input.id)
  if (!row) throw new NodeError('E_NOT_FOUND')
  // A deleted message takes its files with it; only admins keep access, as they keep its versions.
  if (row.messageId !== null && input.principal.role !== 'admin' && findMessage(tx, row.messageId)?.deletedAt)
    throw new NodeError('E_NOT_FOUND')
  if (row.uploadedBy === input.principal.userId || input.principal.role === 'admin') return row
  // A file that came (or went) by O'Chat: the members of its channel read it.
  if (onMembersChannel(tx, row.id, input.principal.userId)) return row
  if (row.recordId === null) throw new NodeError('E_NOT_FOUND')
  loadRecord(tx, { principal: input.principal, registry: input.registry, recordId: row.recordId })
  return row
}
