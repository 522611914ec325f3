import { createHash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, open, rename, rm, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Readable } from 'node:stream'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'

/**
 * Where attachment ciphertext lives: a directory, which replicas share as one volume. Small on purpose,
 * so an object store can replace it behind the same four methods.
 */
export interface BlobStore {
  /** Streams `source` in, refusing more than `maxBytes`; the blob appears only once complete. */
  write(id: string, source: Readable, maxBytes: number): Promise<{ size: number; sha256: string }>
  /**
   * The blob's bytes, or undefined when it is not there (deleted by the purge a moment ago). The blob
   * is opened before this resolves, so a purge that comes during the download does not cut it short.
   */
  read(id: string, range?: { start: number; end: number }): Promise<Readable | undefined>
  size(id: string): Promise<number | undefined>
  delete(id: string): Promise<void>
}

export class BlobTooLargeError extends Error {
  override name = 'BlobTooLargeError'
}

export class FileBlobStore implements BlobStore {
  readonly #dir: string

  constructor(dir: string) {
    this.#dir = dir
  }

  #path(id: string): string {
    // Ids are UUIDs (validated by the routes); two levels of fan-out keep directories small.
    return join(this.#dir, id.slice(0, 2), id)
  }

  async write(id: string, source: Readable, maxBytes: number): Promise<{ size: number; sha256: string }> {
    const target = this.#path(id)
    const partial = `${target}.part`
    await mkdir(join(this.#dir, id.slice(0, 2)), { recursive: true })
    const hash = createHash('sha256')
    let size = 0
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.byteLength
        // Enforced while streaming, not after buffering: memory stays bounded whatever a client sends.
        if (size > maxBytes) return done(new BlobTooLargeError(`more than the declared ${maxBytes} bytes`))
        hash.update(chunk)
        done(null, chunk)
      },
    })
    try {
      // The upload is answered as stored, and the sender then sends messages naming the blob: its bytes
      // and its name must be on disk first (flushed before close, then the directory after the rename),
      // or a crash of the host could leave an empty or missing blob behind a message.
      await pipeline(source, meter, createWriteStream(partial, { mode: 0o600, flush: true }))
      await rename(partial, target)
      await syncDirectory(dirname(target))
    } catch (error) {
      await rm(partial, { force: true })
      throw error
    }
    return { size, sha256: hash.digest('base64url') }
  }

  async read(id: string, range?: { start: number; end: number }): Promise<Readable | undefined> {
    try {
      const file = await open(this.#path(id), 'r')
      return file.createReadStream(range ?? {})
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw error
    }
  }

  async size(id: string): Promise<number | undefined> {
    try {
      return (await stat(this.#path(id))).size
    } catch {
      return undefined
    }
  }

  async delete(id: string): Promise<void> {
    await rm(this.#path(id), { force: true })
    await rm(`${this.#path(id)}.part`, { force: true })
  }
}

async function syncDirectory(path: string): Promise<void> {
  const directory = await open(path, 'r')
  try {
    await directory.sync()
  } finally {
    await directory.close()
  }
}
