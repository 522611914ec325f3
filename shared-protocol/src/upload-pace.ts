import type { Readable } from 'node:stream'
import { Transform, type TransformCallback } from 'node:stream'

/**
 * How slow an upload may be before the receiver cuts it off (PROTOCOL.md §8.3). Without a floor, a
 * client that sends a byte now and then holds a socket and a partly written temp file for as long as
 * it likes; a few hundred of them fill a server's sockets and disk.
 */
export type UploadPace = {
  /** Cut off after this long without a byte: 30 s. */
  idleMs: number
  /**
   * Cut off when fewer bytes than this rate allows arrived in any whole `idleMs` window: 4 KiB/s,
   * 32 kbit/s, below any link a person uploads a file over.
   */
  minBytesPerSecond: number
}

export const DEFAULT_UPLOAD_PACE: UploadPace = Object.freeze({ idleMs: 30_000, minBytesPerSecond: 4096 })

/** Why an upload was cut off: `stalled` (no byte for `idleMs`) or `too-slow` (under the floor). */
export class UploadPaceError extends Error {
  override name = 'UploadPaceError'
  readonly kind: 'stalled' | 'too-slow'

  constructor(kind: 'stalled' | 'too-slow', pace: UploadPace, bytes: number) {
    super(
      kind === 'stalled'
        ? `no bytes arrived for ${pace.idleMs / 1000} s (after ${bytes} bytes)`
        : `fewer than ${pace.minBytesPerSecond} bytes per second arrived over ${pace.idleMs / 1000} s (after ${bytes} bytes)`,
    )
    this.kind = kind
  }
}

/**
 * Passes bytes through unchanged and fails with an `UploadPaceError` when they stop or trickle.
 * Both checks run on timers, so a client that sends nothing at all is caught too.
 */
export class UploadPaceGuard extends Transform {
  readonly #pace: UploadPace
  #bytes = 0
  #bytesAtWindowStart = 0
  #idle: NodeJS.Timeout
  readonly #window: NodeJS.Timeout

  constructor(pace: UploadPace) {
    super()
    this.#pace = pace
    this.#idle = setTimeout(() => this.#cut('stalled'), pace.idleMs)
    this.#window = setInterval(() => {
      const minimum = (pace.minBytesPerSecond * pace.idleMs) / 1000
      const received = this.#bytes - this.#bytesAtWindowStart
      // Nothing at all in a whole window is a stall, whichever of the two timers fires first.
      if (received === 0) this.#cut('stalled')
      else if (received < minimum) this.#cut('too-slow')
      this.#bytesAtWindowStart = this.#bytes
    }, pace.idleMs)
  }

  get bytes(): number {
    return this.#bytes
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#bytes += chunk.byteLength
    this.#idle.refresh()
    done(null, chunk)
  }

  override _flush(done: TransformCallback): void {
    this.#stop()
    done()
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.#stop()
    done(error)
  }

  #cut(kind: 'stalled' | 'too-slow'): void {
    this.#stop()
    this.destroy(new UploadPaceError(kind, this.#pace, this.#bytes))
  }

  #stop(): void {
    clearTimeout(this.#idle)
    clearInterval(this.#window)
  }
}

/**
 * Pipes an HTTP request body into `guard` the way `pipeline` would, except that a failure further on
 * does not destroy the request: its socket stays open long enough to carry the answer that says why
 * the upload was cut off. The request failing or closing early still fails the guard at once. Returns
 * the function that detaches the two and stops the guard once the upload is over, however it ended.
 */
export function feedUpload(body: Readable, guard: UploadPaceGuard): () => void {
  const onError = (error: Error) => guard.destroy(error)
  const onClose = () => {
    if (!body.readableEnded)
      guard.destroy(Object.assign(new Error('the client went away'), { code: 'ECONNRESET' }))
  }
  body.on('error', onError)
  body.on('close', onClose)
  body.pipe(guard)
  return () => {
    body.off('error', onError)
    body.off('close', onClose)
    body.unpipe(guard)
    // Its timers would otherwise still fire, failing a stream nobody listens to any more, which
    // would end the process; after a finished upload this changes nothing.
    if (!guard.destroyed) guard.destroy()
  }
}
