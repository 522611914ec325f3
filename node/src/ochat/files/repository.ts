import { and, eq, inArray, ne } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { ochatChannelMembers, ochatFiles, ochatMessages } from '../../db/schema.ts'
import { applyStatus, type MessageRow } from '../delivery/status.ts'

export type FileRow = typeof ochatFiles.$inferSelect
type Changed = { row: MessageRow; channelId: number }

/**
 * One upload: a file position of one message, or of every message of a bulk send, which share the
 * ciphertext (one blob, one key: a file is encrypted and uploaded once, even for a bulk send).
 */
export type UploadUnit = {
  key: string
  bulkId: string | null
  messageId: number
  position: number
}

export const unitKey = (unit: Omit<UploadUnit, 'key'>) =>
  unit.bulkId ? `bulk:${unit.bulkId}:${unit.position}` : `message:${unit.messageId}:${unit.position}`

/** Still-pending files of outgoing messages that wait for them (not failed), as upload units. */
export function pendingUploadUnits(tx: Tx, messageIds: number[]): UploadUnit[] {
  if (messageIds.length === 0) return []
  const rows = tx
    .select({ messageId: ochatFiles.messageId, position: ochatFiles.position, bulkId: ochatMessages.bulkId })
    .from(ochatFiles)
    .innerJoin(ochatMessages, eq(ochatMessages.id, ochatFiles.messageId))
    .where(
      and(
        inArray(ochatFiles.messageId, messageIds),
        eq(ochatFiles.state, 'pending'),
        eq(ochatMessages.direction, 'out'),
        inArray(ochatMessages.status, ['pending', 'retrying']),
      ),
    )
    .all()
  const units = new Map<string, UploadUnit>()
  for (const row of rows) {
    const key = unitKey(row)
    if (!units.has(key)) units.set(key, { key, ...row })
  }
  return [...units.values()]
}

/** The file rows an upload serves now: this message's, or every waiting one of its bulk send. */
export function unitFiles(
  tx: Tx,
  unit: UploadUnit,
): (FileRow & { channelId: number; message: MessageRow })[] {
  return tx
    .select({ file: ochatFiles, message: ochatMessages })
    .from(ochatFiles)
    .innerJoin(ochatMessages, eq(ochatMessages.id, ochatFiles.messageId))
    .where(
      and(
        unit.bulkId ? eq(ochatMessages.bulkId, unit.bulkId) : eq(ochatMessages.id, unit.messageId),
        eq(ochatMessages.direction, 'out'),
        inArray(ochatMessages.status, ['pending', 'retrying']),
        eq(ochatFiles.position, unit.position),
        eq(ochatFiles.state, 'pending'),
      ),
    )
    .all()
    .map(({ file, message }) => ({ ...file, channelId: message.channelId, message }))
}

/** A manual retry of a Failed message: its failed files are tried again. */
export function resetFailedFiles(tx: Tx, messageIds: number[]): number {
  if (messageIds.length === 0) return 0
  return tx
    .update(ochatFiles)
    .set({ state: 'pending', error: null })
    .where(
      and(
        inArray(ochatFiles.messageId, messageIds),
        eq(ochatFiles.state, 'failed'),
        inArray(
          ochatFiles.messageId,
          tx
            .select({ id: ochatMessages.id })
            .from(ochatMessages)
            .where(and(eq(ochatMessages.direction, 'out'), eq(ochatMessages.status, 'pending'))),
        ),
      ),
    )
    .run().changes
}

/**
 * The upload is done: every file of the unit points at the blob, with the key sealed, and each message
 * whose files are now all ready becomes due in the outbox (in the same commit, so a crash cannot leave
 * a message with its files uploaded and never sent).
 */
export function markUploaded(
  tx: Tx,
  input: { fileIds: number[]; blobId: string; sealedKey: string; now: number },
): number[] {
  if (input.fileIds.length === 0) return []
  tx.update(ochatFiles)
    .set({ blobId: input.blobId, sealedKey: input.sealedKey, state: 'ready', error: null })
    .where(and(inArray(ochatFiles.id, input.fileIds), eq(ochatFiles.state, 'pending')))
    .run()
  const messageIds = [
    ...new Set(
      tx
        .select({ messageId: ochatFiles.messageId })
        .from(ochatFiles)
        .where(inArray(ochatFiles.id, input.fileIds))
        .all()
        .map((row) => row.messageId),
    ),
  ]
  const waiting = new Set(
    tx
      .select({ messageId: ochatFiles.messageId })
      .from(ochatFiles)
      .where(and(inArray(ochatFiles.messageId, messageIds), ne(ochatFiles.state, 'ready')))
      .all()
      .map((row) => row.messageId),
  )
  const due = messageIds.filter((id) => !waiting.has(id))
  if (due.length > 0)
    tx.update(ochatMessages)
      .set({ outboxDueAt: input.now })
      // Also when it was already due (a manual retry): the outbox deferred it while the file uploaded.
      .where(and(inArray(ochatMessages.id, due), inArray(ochatMessages.status, ['pending', 'retrying'])))
      .run()
  return due
}

/**
 * A file that cannot be uploaded: its row is failed with the error, and its message Failed with the
 * reason (the other files of that message are left as they are; a manual retry tries them again).
 */
export function failUpload(
  tx: Tx,
  input: { fileIds: number[]; error: string; reason: string; now: number },
): Changed[] {
  if (input.fileIds.length === 0) return []
  tx.update(ochatFiles)
    .set({ state: 'failed', error: input.error })
    .where(inArray(ochatFiles.id, input.fileIds))
    .run()
  const messages = tx
    .select()
    .from(ochatMessages)
    .where(
      inArray(
        ochatMessages.id,
        tx.select({ id: ochatFiles.messageId }).from(ochatFiles).where(inArray(ochatFiles.id, input.fileIds)),
      ),
    )
    .all()
  const changed: Changed[] = []
  for (const message of messages) {
    const updated = applyStatus(tx, message, { status: 'failed', at: input.now, reason: input.reason })
    if (updated) changed.push({ row: updated, channelId: message.channelId })
  }
  return changed
}

/** An upload that will be tried again: its messages show Retrying with the next attempt and the reason. */
export function retryingUpload(
  tx: Tx,
  input: { messageIds: number[]; reason: string; now: number; nextAttemptAt: number },
): Changed[] {
  if (input.messageIds.length === 0) return []
  const changed: Changed[] = []
  for (const message of tx
    .select()
    .from(ochatMessages)
    .where(inArray(ochatMessages.id, input.messageIds))
    .all()) {
    const updated = applyStatus(tx, message, {
      status: 'retrying',
      at: input.now,
      reason: input.reason,
      nextAttemptAt: input.nextAttemptAt,
    })
    if (updated) changed.push({ row: updated, channelId: message.channelId })
  }
  return changed
}

/** An incoming file waiting to be downloaded, with what its message says about where it belongs. */
export function incomingFile(tx: Tx, fileId: number) {
  return tx
    .select({ file: ochatFiles, channelId: ochatMessages.channelId, recordId: ochatMessages.recordId })
    .from(ochatFiles)
    .innerJoin(ochatMessages, eq(ochatMessages.id, ochatFiles.messageId))
    .where(and(eq(ochatFiles.id, fileId), eq(ochatMessages.direction, 'in')))
    .get()
}

export function markDownloaded(tx: Tx, input: { fileId: number; attachmentId: number }): void {
  // The key is no longer needed once the plaintext is stored: it is dropped.
  tx.update(ochatFiles)
    .set({ attachmentId: input.attachmentId, state: 'ready', sealedKey: null, error: null })
    .where(eq(ochatFiles.id, input.fileId))
    .run()
}

export function failDownload(tx: Tx, input: { fileId: number; error: string }): void {
  tx.update(ochatFiles)
    .set({ state: 'failed', error: input.error })
    .where(eq(ochatFiles.id, input.fileId))
    .run()
}

/** What was in flight when the node stopped: outgoing messages still uploading, incoming files to fetch. */
export function unfinishedWork(tx: Tx): { uploads: number[]; downloads: number[] } {
  const rows = tx
    .select({ id: ochatFiles.id, messageId: ochatFiles.messageId, direction: ochatMessages.direction })
    .from(ochatFiles)
    .innerJoin(ochatMessages, eq(ochatMessages.id, ochatFiles.messageId))
    .where(eq(ochatFiles.state, 'pending'))
    .all()
  return {
    uploads: [...new Set(rows.filter((row) => row.direction === 'out').map((row) => row.messageId))],
    downloads: rows.filter((row) => row.direction === 'in').map((row) => row.id),
  }
}

/** Whether the attachment came or went by O'Chat on a channel the user is a member of. */
export function onMembersChannel(tx: Tx, input: { attachmentId: number; userId: number }): boolean {
  return (
    tx
      .select({ id: ochatFiles.id })
      .from(ochatFiles)
      .innerJoin(ochatMessages, eq(ochatMessages.id, ochatFiles.messageId))
      .innerJoin(
        ochatChannelMembers,
        and(
          eq(ochatChannelMembers.channelId, ochatMessages.channelId),
          eq(ochatChannelMembers.userId, input.userId),
        ),
      )
      .where(eq(ochatFiles.attachmentId, input.attachmentId))
      .get() !== undefined
  )
}
