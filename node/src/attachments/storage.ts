import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import {
  closeSync,
  createWriteStream,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  unlinkSync,
} from 'node:fs'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { Transform, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { feedUpload, type UploadPace, UploadPaceError, UploadPaceGuard } from '@ochat/shared-protocol'
import { NodeError } from '../errors.ts'

/**
 * Attachment bytes on disk, content-addressed: `<dir>/<sha[0:2]>/<sha>` holds one copy per content,
 * whatever the number of rows (uploads) pointing at it. Uploads are written to `<dir>/.tmp/` first
 * (same file system, so the final rename is atomic) and only renamed into place once complete.
 *
 * Placing a file and deleting one are synchronous on purpose: each runs in one tick together with the
 * database statement that references or unreferences the content, so an upload of some content can
 * never interleave with the deletion of the last row holding the same content.
 */
const TEMP = '.tmp'

export function contentPath(dir: string, sha256: string): string {
  return join(dir, sha256.slice(0, 2), sha256)
}

/**
 * Temp files of uploads cut short by a crash are never completed; the node is one process per data
 * directory, so at start every temp file is such a leftover.
 */
export function resetTempDir(dir: string): void {
  rmSync(join(dir, TEMP), { recursive: true, force: true })
  mkdirSync(join(dir, TEMP), { recursive: true })
}

export type ReceivedFile = { tempPath: string; sha256: string; size: number }

/**
 * Streams an upload to a temp file while hashing it; memory stays bounded by the stream buffers
 * whatever the size. Stops as soon as the bytes go past `declaredBytes` (or `maxBytes`), and refuses
 * a body that ends short of `declaredBytes`; in both cases, and on any other failure, the temp file is
 * deleted before the error is thrown.
 */
export async function receiveFile(input: {
  dir: string
  body: Readable
  /** The request's Content-Length, already checked against `maxBytes`. */
  declaredBytes: number
  maxBytes: number
  /**
   * For a body sent by a client: cut it off when it stalls or trickles (408), leaving the request
   * open so the answer reaches the client. Without it, `body` is piped and destroyed on failure.
   */
  pace?: UploadPace
}): Promise<ReceivedFile> {
  const tempPath = newTempPath(input.dir)
  const meter = new HashingMeter(Math.min(input.declaredBytes, input.maxBytes))
  // Flushed to disk before it closes: the row that points at this content is committed durably right
  // after, and for a file received over O'Chat the relay deletes its copy once every recipient fetched it.
  const writer = createWriteStream(tempPath, { flags: 'wx', flush: true })
  const guard = input.pace ? new UploadPaceGuard(input.pace) : undefined
  const detach = guard ? feedUpload(input.body, guard) : undefined
  try {
    if (guard) await pipeline(guard, meter, writer)
    else await pipeline(input.body, meter, writer)
  } catch (error) {
    detach?.()
    // The file may still be opening when the pipeline fails: wait until the stream is closed, or the
    // temp file would appear after it was "deleted".
    if (!writer.closed) await once(writer, 'close').catch(() => undefined)
    rmSync(tempPath, { force: true })
    // A body that was not read to its end is left unread: the socket closes once the answer is out.
    const extra = guard ? { headers: { connection: 'close' } } : {}
    if (error instanceof UploadPaceError)
      throw new NodeError(
        error.kind === 'stalled' ? 'E_UPLOAD_STALLED' : 'E_UPLOAD_TOO_SLOW',
        error.message,
        extra,
      )
    if (meter.overflowed)
      throw new NodeError('E_ATTACHMENT_LENGTH', `more bytes than the declared ${input.declaredBytes}`, extra)
    if (isClientAbort(error) || !input.body.readableEnded)
      throw new NodeError(
        'E_ATTACHMENT_LENGTH',
        `the upload stopped after ${meter.bytes} of ${input.declaredBytes} bytes`,
        extra,
      )
    throw error
  }
  detach?.()
  if (meter.bytes !== input.declaredBytes) {
    rmSync(tempPath, { force: true })
    throw new NodeError(
      'E_ATTACHMENT_LENGTH',
      `received ${meter.bytes} bytes, the request declared ${input.declaredBytes}`,
    )
  }
  return { tempPath, sha256: meter.digest(), size: meter.bytes }
}

/** A fresh path in the temp directory, on the same file system as the store. */
export function newTempPath(dir: string): string {
  mkdirSync(join(dir, TEMP), { recursive: true })
  return join(dir, TEMP, `${randomBytes(12).toString('hex')}.part`)
}

/** Moves a received file to its content address; when that content is already stored, keeps the old copy. */
export function placeFile(dir: string, file: ReceivedFile): void {
  const directory = moveIntoPlace(dir, file)
  if (directory === null) return
  // The rename is durable only once its directory is: a temp file left behind is deleted at start.
  const handle = openSync(directory, 'r')
  try {
    fsyncSync(handle)
  } finally {
    closeSync(handle)
  }
}

/**
 * placeFile without making the rename durable: answers the directory to fsync (`syncDirectory`) before
 * telling anyone the file is stored, or null when the content was stored already.
 */
export function moveIntoPlace(dir: string, file: ReceivedFile): string | null {
  const target = contentPath(dir, file.sha256)
  if (existsSync(target)) {
    unlinkSync(file.tempPath)
    return null
  }
  const directory = join(dir, file.sha256.slice(0, 2))
  mkdirSync(directory, { recursive: true })
  renameSync(file.tempPath, target)
  return directory
}

/** Makes the renames in a directory durable, on the thread pool. */
export async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** Deletes stored content; call only once no row references this sha256 any more. */
export function removeContent(dir: string, sha256: string): void {
  rmSync(contentPath(dir, sha256), { force: true })
}

/** The connection closed before the body ended (client gone, or a body shorter than Content-Length). */
function isClientAbort(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code
  return code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE'
}

/** Counts and hashes bytes on their way to disk, and fails the stream past `limit` bytes. */
class HashingMeter extends Transform {
  readonly #hash = createHash('sha256')
  readonly #limit: number
  bytes = 0
  overflowed = false

  constructor(limit: number) {
    super()
    this.#limit = limit
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length
    if (this.bytes > this.#limit) {
      this.overflowed = true
      callback(new Error(`the upload went past ${this.#limit} bytes`))
      return
    }
    this.#hash.update(chunk)
    callback(null, chunk)
  }

  digest(): string {
    return this.#hash.digest('hex')
  }
}
