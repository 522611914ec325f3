import type { AttachmentRow } from '../attachments/repository.ts'
import { findAttachment } from '../attachments/repository.ts'
import type { Principal } from '../auth/principal.ts'
import { findMessage } from '../chatter/repository.ts'
import type { Tx } from '../db/client.ts'
import { NodeError } from '../errors.ts'
import type { ModelRegistry } from '../models/registry.ts'
import { onMembersChannel } from '../ochat/files/repository.ts'
import { loadRecord } from './records.ts'
import { isAdmin, seesEverything } from './roles.ts'

/**
 * An attachment the caller may read: one they uploaded, or one on a record they can read (admins read
 * every record, hence every attachment), or one sent or received by O'Chat on a channel they are a
 * member of, unless its message was deleted. Anything else is "not found", exactly like a missing id,
 * so an id reveals nothing about what exists.
 */
export function loadAttachment(
  tx: Tx,
  input: { principal: Principal; registry: ModelRegistry; id: number },
): AttachmentRow {
  const { principal } = input
  const row = findAttachment(tx, input.id)
  if (!row) throw new NodeError('E_NOT_FOUND')
  // A deleted message takes its files with it; only admins keep access, as they keep its versions.
  if (row.messageId !== null && !seesEverything(principal) && findMessage(tx, row.messageId)?.deletedAt)
    throw new NodeError('E_NOT_FOUND')
  if (row.uploadedBy === principal.userId || seesEverything(principal)) return row
  // A file that came (or went) by O'Chat: the members of its channel read it.
  if (onMembersChannel(tx, { attachmentId: row.id, userId: principal.userId })) return row
  if (row.recordId === null) throw new NodeError('E_NOT_FOUND')
  loadRecord(tx, { principal, registry: input.registry, recordId: row.recordId })
  return row
}

/** Deleting someone else's file is an admin action: a key needs the admin scope too. */
export function authorizeAttachmentDeletion(principal: Principal, attachment: AttachmentRow): void {
  if (attachment.uploadedBy !== principal.userId && !isAdmin(principal))
    throw new NodeError('E_FORBIDDEN', 'only the person who uploaded a file, or an admin, can delete it')
}
