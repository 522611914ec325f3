import { pipeline } from 'node:stream'
import { AttachmentDecryptor, AttachmentStreamError } from '@ochat/shared-protocol'
import type { AttachmentRow } from '../../attachments/repository.ts'
import { countContentReferences, insertAttachment } from '../../attachments/repository.ts'
import { placeFile, receiveFile, removeContent } from '../../attachments/storage.ts'
import type { Db } from '../../db/client.ts'
import type { Keystore } from '../identity/keystore.ts'
import type { RelayHttpClient } from '../relay/http-client.ts'
import { ByteCounter } from './progress.ts'
import { type FileRow, markDownloaded } from './repository.ts'
import { ResumingDownload } from './resuming-download.ts'

/** A dropped connection is resumed from the byte reached this many times in a row: 5, after 0.5 s × n. */
const RESUME_ATTEMPTS = 5
const RESUME_DELAY_MS = 500

/** The file can never be stored as it is (tampered, truncated, wrong hash, no key): a final failure. */
export class BadFileError extends Error {
  override name = 'BadFileError'
  constructor(readonly reason: string) {
    super(reason)
  }
}

/**
 * Downloads one incoming file and stores it as an ordinary node attachment: the ciphertext is read
 * from the relay (from the byte reached, when a connection drops mid-file: resuming-download.ts), decrypted and checked by stream (size, chunk order, final marker, SHA-256:
 * PROTOCOL.md §8.2) into a temp file, and only a file that passed every check is moved to its content
 * address (attachments/storage.ts, deduplicated by SHA-256) and recorded, in the same tick as the
 * row that points at it. Memory stays bounded by the stream buffers whatever the size.
 */
export async function downloadAndStore(input: {
  db: Db
  relay: RelayHttpClient
  keystore: Keystore
  /** The attachment directory (config.attachmentDir). */
  dir: string
  file: FileRow
  /** Our record the message is filed on, if any: the attachment goes there too. */
  recordId: number | null
  now: () => number
  signal: AbortSignal
  /** Plaintext bytes checked so far, for progress. */
  onBytes: (done: number) => void
  /** A relay answer that no new request can change (the file is gone, or not ours). */
  isFinal: (error: unknown) => boolean
}): Promise<AttachmentRow> {
  const { file } = input
  if (!file.blobId || !file.sealedKey)
    throw new BadFileError('invalid: the message gave no blob or key for this file')
  const key = input.keystore.open(file.sealedKey)
  const blobId = file.blobId
  const source = new ResumingDownload({
    open: (start) => input.relay.downloadBlob(blobId, start),
    isFinal: input.isFinal,
    maxFailures: RESUME_ATTEMPTS,
    delayMs: RESUME_DELAY_MS,
  })
  const decryptor = new AttachmentDecryptor({ key, expectedSize: file.size, expectedSha256: file.sha256 })
  const plain = pipeline(source, decryptor, new ByteCounter(input.onBytes), () => undefined)
  const abort = () => source.destroy(new Error('stopped'))
  input.signal.addEventListener('abort', abort, { once: true })
  let received: Awaited<ReturnType<typeof receiveFile>>
  try {
    received = await receiveFile({
      dir: input.dir,
      body: plain,
      declaredBytes: file.size,
      maxBytes: file.size,
    })
  } catch (error) {
    // The decryptor names what is wrong with the bytes; anything else (the network) may pass next time.
    const fault = decryptor.errored
    if (fault instanceof AttachmentStreamError) throw new BadFileError(fault.reason)
    throw source.errored ?? error
  } finally {
    input.signal.removeEventListener('abort', abort)
  }
  if (Buffer.from(received.sha256, 'hex').toString('base64url') !== file.sha256)
    throw new BadFileError('invalid: the decrypted file does not match its SHA-256')

  // Synchronous from here: placing the content and inserting the row that holds it share one tick.
  placeFile(input.dir, received)
  try {
    return input.db.transaction((tx) => {
      const row = insertAttachment(tx, {
        sha256: received.sha256,
        size: received.size,
        fileName: file.name,
        mimeType: file.mimeType,
        recordId: input.recordId,
        uploadedBy: null,
        createdAt: input.now(),
      })
      markDownloaded(tx, { fileId: file.id, attachmentId: row.id })
      return row
    })
  } catch (error) {
    if (countContentReferences(input.db, received.sha256) === 0) removeContent(input.dir, received.sha256)
    throw error
  }
}
