import { Transform, type TransformCallback } from 'node:stream'
import type { LiveEvent } from '../../live/events.ts'

/** Progress reaches the UI at most this often per transfer: 250 ms. */
export const PROGRESS_INTERVAL_MS = 250

export type FileTarget = { fileId: number; messageId: number; channelId: number }

/**
 * `ochat.file` events for the members of each file's channel: the start and the end always, progress
 * in between at most every PROGRESS_INTERVAL_MS, so a fast transfer does not flood the sockets.
 */
export class ProgressReporter {
  readonly #publish: (events: LiveEvent[]) => void
  readonly #members: Map<number, number[]>
  readonly #targets: FileTarget[]
  readonly #size: number
  #lastAt = 0

  constructor(props: {
    publish: (events: LiveEvent[]) => void
    /** Members by channel id. */
    members: Map<number, number[]>
    /** The file rows this transfer serves (one, or every message of a bulk send). */
    targets: FileTarget[]
    /** Plaintext bytes. */
    size: number
  }) {
    this.#publish = props.publish
    this.#members = props.members
    this.#targets = props.targets
    this.#size = props.size
  }

  // Wall time on purpose: throttling is about the sockets' load, not about domain time (clock.ts).
  started(): void {
    this.#lastAt = Date.now()
    this.#emit('pending', 0)
  }

  /** Bytes of plaintext moved so far; emitted only if the last event is old enough. */
  progress(done: number): void {
    const now = Date.now()
    if (now - this.#lastAt < PROGRESS_INTERVAL_MS) return
    this.#lastAt = now
    this.#emit('pending', done)
  }

  finished(state: 'ready' | 'failed', done: number): void {
    this.#emit(state, done)
  }

  #emit(state: 'pending' | 'ready' | 'failed', done: number): void {
    const events: LiveEvent[] = []
    for (const target of this.#targets)
      for (const userId of this.#members.get(target.channelId) ?? [])
        events.push({
          scope: 'user',
          userId,
          type: 'ochat.file',
          messageId: target.messageId,
          fileId: target.fileId,
          state,
          done,
          size: this.#size,
        })
    this.#publish(events)
  }
}

/** Passes bytes through unchanged, counting them for the progress reporter. */
export class ByteCounter extends Transform {
  bytes = 0
  readonly #onBytes: (bytes: number) => void

  constructor(onBytes: (bytes: number) => void) {
    super()
    this.#onBytes = onBytes
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.byteLength
    this.#onBytes(this.bytes)
    callback(null, chunk)
  }
}
