import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { pipeline } from 'node:stream'
import {
  type AttachmentDigest,
  AttachmentEncryptor,
  attachmentCiphertextSize,
  generateAttachmentKey,
} from '@ochat/shared-protocol'
import type { RelayHttpClient } from '../relay/http-client.ts'
import { ByteCounter } from './progress.ts'

/** The node's own copy of the file is missing or changed: trying again cannot help. */
export class LocalFileError extends Error {
  override name = 'LocalFileError'
}

/**
 * Encrypts one stored file by stream (a fresh key, 64 KiB chunks: PROTOCOL.md §8.2) straight into the
 * relay upload: the file is read, sealed and sent chunk by chunk, so memory stays bounded by the stream
 * buffers whatever its size. Answers the blob id, the key and the plaintext digest the encryptor
 * computed on the way (the caller checks it against the hash the file was stored under).
 */
export async function encryptAndUpload(input: {
  relay: RelayHttpClient
  /** The node's stored file (attachments/storage.ts contentPath). */
  path: string
  /** Plaintext bytes, as recorded when the file was uploaded to the node. */
  size: number
  signal: AbortSignal
  /** Plaintext bytes read so far, for progress. */
  onBytes: (done: number) => void
}): Promise<{ blobId: string; key: Uint8Array; digest: AttachmentDigest }> {
  const found = await stat(input.path).catch(() => undefined)
  if (!found) throw new LocalFileError('the file is no longer stored on this node')
  if (found.size !== input.size)
    throw new LocalFileError(`the stored file has ${found.size} bytes, ${input.size} were recorded`)
  const key = generateAttachmentKey()
  const cipherBytes = attachmentCiphertextSize(input.size)
  const created = await input.relay.createBlob(cipherBytes)
  if (input.signal.aborted) throw new Error('stopped')

  const file = createReadStream(input.path)
  const encryptor = new AttachmentEncryptor({ key })
  let local: Error | undefined
  // The callback form hands back the last stream, which becomes the request body as it is produced.
  const body = pipeline(file, new ByteCounter(input.onBytes), encryptor, (error) => {
    if (error) local = error
  })
  const abort = () => file.destroy(new Error('stopped'))
  input.signal.addEventListener('abort', abort, { once: true })
  try {
    await input.relay.uploadBlob(created, body, cipherBytes)
  } catch (error) {
    // A failure on our side of the stream shows up as a failed request: say what really failed.
    if (local && local.message !== 'stopped')
      throw new LocalFileError(`reading the file failed: ${local.message}`)
    throw error
  } finally {
    input.signal.removeEventListener('abort', abort)
  }
  return { blobId: created.blobId, key, digest: encryptor.digest() }
}
