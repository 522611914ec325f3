import { createHash } from 'node:crypto'
import { open, rm } from 'node:fs/promises'
import { countContentReferences } from '../../attachments/repository.ts'
import { moveIntoPlace, newTempPath, removeContent, syncDirectory } from '../../attachments/storage.ts'
import type { Db } from '../../db/client.ts'

/** An attachment of an email, its bytes already at their content address. */
export type StoredFile = { sha256: string; size: number; fileName: string; mimeType: string }

/** An attachment written and flushed to a temp file, not yet in the store. */
export type PendingFile = StoredFile & { tempPath: string; contentId: string | null }

/** An attachment part as the parser hands it over: its decoded bytes arrive as a stream. */
export type AttachmentPart = {
  content: AsyncIterable<Buffer>
  filename?: string | undefined
  contentType: string
  /** The Content-ID without angle brackets (cid: references in the HTML), when it has one. */
  cid?: string | undefined
}

/**
 * Writes one attachment of an email to a temp file (attachments/storage.ts's temp directory) as its
 * bytes arrive, hashing them on the way, and flushes it: the transaction that decides about the mail
 * later only renames it, so neither the write queue's batch nor the memory of the node ever holds a
 * whole file. Inline cid: images are among them: the chatter shows no images, so they are files of the
 * message. On failure, nothing is left behind.
 */
export async function writePending(dir: string, part: AttachmentPart, index: number): Promise<PendingFile> {
  const tempPath = newTempPath(dir)
  const hash = createHash('sha256')
  let size = 0
  try {
    const handle = await open(tempPath, 'wx')
    try {
      for await (const chunk of part.content) {
        hash.update(chunk)
        size += chunk.length
        await handle.write(chunk)
      }
      // Flushed before the file is renamed into the store: the row pointing at it may be committed next.
      await handle.sync()
    } finally {
      await handle.close()
    }
  } catch (error) {
    await rm(tempPath, { force: true })
    throw error
  }
  return {
    tempPath,
    sha256: hash.digest('hex'),
    size,
    fileName: fileName(part, index),
    mimeType: (part.contentType || 'application/octet-stream').toLowerCase(),
    contentId: part.cid?.replace(/^<|>$/g, '') || null,
  }
}

/**
 * Moves written attachments to their content addresses (content equal to a stored file is stored
 * once), in the transaction that inserts their rows: synchronous, so no deletion of the same content
 * runs between the two (see attachments/storage.ts). Only renames: the directories to fsync are
 * added to `directories`, to be made durable after the commit and before the mail is acknowledged.
 */
export function placePending(dir: string, files: PendingFile[], directories: Set<string>): StoredFile[] {
  return files.map(({ tempPath, contentId: _cid, ...file }) => {
    const directory = moveIntoPlace(dir, { tempPath, sha256: file.sha256, size: file.size })
    if (directory !== null) directories.add(directory)
    return file
  })
}

/** Makes the renames durable, on the thread pool. */
export async function syncPlaced(directories: Set<string>): Promise<void> {
  await Promise.all([...directories].map((directory) => syncDirectory(directory)))
}

/** Deletes the temp files of a mail that was not posted (or whose files were placed: then nothing is left). */
export async function discardPending(files: PendingFile[]): Promise<void> {
  await Promise.all(files.map((file) => rm(file.tempPath, { force: true })))
}

function fileName(attachment: AttachmentPart, index: number): string {
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
