import type { Readable } from 'node:stream'
import type { UploadPace } from '@ochat/shared-protocol'
import type { Principal } from '../auth/principal.ts'
import type { Db } from '../db/client.ts'
import type { ModelRegistry } from '../models/registry.ts'
import { loadRecord } from '../policies/index.ts'
import { type AttachmentRow, countContentReferences, insertAttachment } from './repository.ts'
import { placeFile, receiveFile, removeContent } from './storage.ts'

/**
 * Stores one uploaded file: streamed to a temp file while hashed, then moved to its content address
 * (an identical file already stored is kept and the new copy dropped), then one row for this upload.
 * The row is not on a message yet; posting a message with its id attaches it.
 */
export async function uploadAttachment(input: {
  db: Db
  registry: ModelRegistry
  principal: Principal
  /** The attachment directory (config.attachmentDir). */
  dir: string
  /** The request body, not read yet. */
  body: Readable
  declaredBytes: number
  maxBytes: number
  /** How slow the client may send before the upload is cut off. */
  pace: UploadPace
  fileName: string
  mimeType: string
  recordId: number | undefined
  now: number
}): Promise<AttachmentRow> {
  const { db, principal, registry, recordId } = input
  // Refuse a record the caller cannot read before reading a byte of the file.
  if (recordId !== undefined) db.transaction((tx) => loadRecord(tx, { principal, registry, recordId }))
  const file = await receiveFile(input)
  // From here on, synchronous: no other request runs between placing the file and inserting its row.
  placeFile(input.dir, file)
  try {
    return db.transaction((tx) => {
      // The record may have gone while the file was on its way.
      if (recordId !== undefined) loadRecord(tx, { principal, registry, recordId })
      return insertAttachment(tx, {
        sha256: file.sha256,
        size: file.size,
        fileName: input.fileName,
        mimeType: input.mimeType,
        recordId: recordId ?? null,
        uploadedBy: principal.userId,
        createdAt: input.now,
      })
    })
  } catch (error) {
    if (countContentReferences(db, file.sha256) === 0) removeContent(input.dir, file.sha256)
    throw error
  }
}
