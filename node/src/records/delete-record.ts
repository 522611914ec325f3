import { countContentReferences } from '../attachments/repository.ts'
import { removeContent } from '../attachments/storage.ts'
import type { Db, Tx } from '../db/client.ts'
import { recordDeletedWebhook } from '../webhooks/emit.ts'
import { contentsOfRecord, deleteRecordRows, type RecordRow } from './repository.ts'

/**
 * Deletes a record the caller was allowed to load, in the caller's transaction, with its chatter,
 * followers, notifications and queued emails. Returns the contents (SHA-256) of its files, for
 * `removeOrphanContents` once the transaction has committed.
 */
export function deleteRecord(tx: Tx, input: { record: RecordRow; modelName: string; now: number }): string[] {
  const contents = contentsOfRecord(tx, input.record.id)
  deleteRecordRows(tx, input.record.id)
  recordDeletedWebhook(tx, input)
  return contents
}

/**
 * Removes the files of a deleted record from disk, unless another upload has the same content.
 * Checked and removed in one synchronous step, so an upload of the same bytes cannot slip in between.
 */
export function removeOrphanContents(input: { db: Db; attachmentDir: string; contents: string[] }): void {
  for (const sha256 of input.contents)
    if (countContentReferences(input.db, sha256) === 0) removeContent(input.attachmentDir, sha256)
}
