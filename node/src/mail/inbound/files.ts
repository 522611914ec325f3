import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Attachment } from 'mailparser'
import { countContentReferences } from '../../attachments/repository.ts'
import { placeFile, removeContent } from '../../attachments/storage.ts'
import type { Db } from '../../db/client.ts'

/** An attachment of an email, its bytes already at their content address. */
export type StoredFile = { sha256: string; size: number; fileName: string; mimeType: string }

/**
 * Writes an email's attachments to the content-addressed store, in the transaction that posts the
 * mail and inserts their rows (synchronously, as uploads do: see attachments/storage.ts); content
 * equal to a stored file is stored once. Inline cid: images are among them: the chatter shows no
 * images, so they are files of the message.
 */
export function storeFiles(dir: string, attachments: Attachment[]): StoredFile[] {
  const stored: StoredFile[] = []
  for (const [index, attachment] of attachments.entries()) {
    const content = attachment.content
    const sha256 = createHash('sha256').update(content).digest('hex')
    const tempPath = join(dir, '.tmp', `${randomBytes(12).toString('hex')}.part`)
    mkdirSync(join(dir, '.tmp'), { recursive: true })
    writeFileSync(tempPath, content, { flush: true })
    placeFile(dir, { tempPath, sha256, size: content.length })
    stored.push({
      sha256,
      size: content.length,
      fileName: fileName(attachment, index),
      mimeType: (attachment.contentType || 'application/octet-stream').toLowerCase(),
    })
  }
  return stored
}

function fileName(attachment: Attachment, index: number): string {
  const given = attachment.filename?.replace(/[\p{Cc}/\\]+/gu, ' ').trim()
  if (given) return given.slice(0, 255)
  const extension =
    attachment.contentType === 'message/rfc822' ? 'eml' : (attachment.contentType.split('/')[1] ?? 'bin')
  return `attachment-${index + 1}.${extension.replace(/[^a-z0-9.+-]/gi, '')}`
}

/**
 * Removes the files of a mail whose transaction rolled back, unless another row holds the same
 * content. Synchronous, so no upload of the same content runs between the count and the removal.
 */
export function removeUnreferenced(db: Db, dir: string, files: StoredFile[]): void {
  for (const sha256 of new Set(files.map((file) => file.sha256)))
    if (countContentReferences(db, sha256) === 0) removeContent(dir, sha256)
}
