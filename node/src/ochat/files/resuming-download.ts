import { Readable } from 'node:stream'

/**
 * A blob's ciphertext as one stream, resumed where it broke: when the connection to the relay fails
 * in the middle of a file, the rest is asked for from the byte reached (an HTTP Range request,
 * PROTOCOL.md §8.3), so a large file whose connection dropped late does not start over. The bytes
 * reach the decryptor in order, once each, whatever the number of requests behind them.
 *
 * A failure `isFinal` calls final (the relay refused: the file is gone or not ours), or one more than
 * `maxFailures` in a row without a byte of progress, ends the stream with that error; the caller's
 * retry then starts the file again.
 */
export class ResumingDownload extends Readable {
  readonly #open: (start: number) => Promise<Readable>
  readonly #isFinal: (error: unknown) => boolean
  readonly #maxFailures: number
  readonly #delayMs: number
  #source: Readable | undefined
  #opening = false
  #offset = 0
  /** Failures since the last byte received. */
  #failures = 0
  #timer: NodeJS.Timeout | undefined

  constructor(props: {
    /** Opens the blob from this byte on. */
    open: (start: number) => Promise<Readable>
    isFinal: (error: unknown) => boolean
    maxFailures: number
    /** Before asking again, this long times the failures in a row. */
    delayMs: number
  }) {
    super()
    this.#open = props.open
    this.#isFinal = props.isFinal
    this.#maxFailures = props.maxFailures
    this.#delayMs = props.delayMs
  }

  /** Bytes received so far. */
  get offset(): number {
    return this.#offset
  }

  override _read(): void {
    if (this.#source) this.#source.resume()
    else if (!this.#opening && !this.#timer) void this.#connect()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.#timer)
    this.#source?.destroy()
    this.#source = undefined
    callback(error)
  }

  async #connect(): Promise<void> {
    this.#opening = true
    let source: Readable
    try {
      source = await this.#open(this.#offset)
    } catch (error) {
      this.#opening = false
      this.#failed(error)
      return
    }
    this.#opening = false
    if (this.destroyed) {
      source.destroy()
      return
    }
    this.#source = source
    source.on('data', (chunk: Buffer) => {
      this.#offset += chunk.byteLength
      this.#failures = 0
      if (!this.push(chunk)) source.pause()
    })
    source.once('end', () => {
      this.#source = undefined
      this.push(null)
    })
    source.once('error', (error) => {
      this.#source = undefined
      source.removeAllListeners('data')
      this.#failed(error)
    })
  }

  #failed(error: unknown): void {
    if (this.destroyed) return
    this.#failures++
    if (this.#isFinal(error) || this.#failures > this.#maxFailures) {
      this.destroy(error instanceof Error ? error : new Error(String(error)))
      return
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      void this.#connect()
    }, this.#delayMs * this.#failures)
  }
}
