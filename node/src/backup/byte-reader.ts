import { BackupError } from './errors.ts'

/**
 * Reads exact numbers of bytes from a stream of chunks of any size: the backup's headers are read
 * whole, its files in pieces, so memory stays bounded by one chunk whatever a file's size.
 */
export class ByteReader {
  readonly #source: AsyncIterator<Buffer>
  #pending: Buffer[] = []
  #buffered = 0
  #ended = false
  /** Bytes handed out so far: where a damaged part is, for the message. */
  offset = 0

  constructor(source: AsyncIterable<Buffer | Uint8Array | string>) {
    const iterator = source[Symbol.asyncIterator]()
    this.#source = {
      next: async () => {
        const step = await iterator.next()
        return step.done ? step : { done: false, value: Buffer.from(step.value as Uint8Array) }
      },
    }
  }

  /** Fills the buffer to `bytes`, or to the end of the stream; answers whether it got that many. */
  async #fill(bytes: number): Promise<boolean> {
    while (this.#buffered < bytes && !this.#ended) {
      const step = await this.#source.next()
      if (step.done) this.#ended = true
      else if (step.value.length > 0) {
        this.#pending.push(step.value)
        this.#buffered += step.value.length
      }
    }
    return this.#buffered >= bytes
  }

  /** Up to `max` bytes (at least one unless the stream ended), in the pieces they came in. */
  async #piece(max: number): Promise<Buffer | null> {
    if (!(await this.#fill(1))) return null
    const first = this.#pending[0] as Buffer
    const piece = first.length <= max ? first : first.subarray(0, max)
    if (piece === first) this.#pending.shift()
    else this.#pending[0] = first.subarray(max)
    this.#buffered -= piece.length
    this.offset += piece.length
    return piece
  }

  /** Exactly `bytes` bytes; a stream that ends first is a truncated file. */
  async exactly(bytes: number, what: string): Promise<Buffer> {
    if (!(await this.#fill(bytes)))
      throw new BackupError('E_BACKUP_DAMAGED', `the file ends in the middle of ${what}: it is truncated`)
    const parts: Buffer[] = []
    let left = bytes
    while (left > 0) {
      const piece = await this.#piece(left)
      if (!piece) break
      parts.push(piece)
      left -= piece.length
    }
    return Buffer.concat(parts, bytes)
  }

  /** `bytes` bytes as they arrive, for a file too large to hold. */
  async *stream(bytes: number, what: string): AsyncGenerator<Buffer> {
    let left = bytes
    while (left > 0) {
      const piece = await this.#piece(left)
      if (!piece)
        throw new BackupError('E_BACKUP_DAMAGED', `the file ends in the middle of ${what}: it is truncated`)
      left -= piece.length
      yield piece
    }
  }

  /** Whether the stream has no byte left. */
  async atEnd(): Promise<boolean> {
    return !(await this.#fill(1))
  }
}
