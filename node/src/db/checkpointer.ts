import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type Sqlite from 'better-sqlite3'

/** How often the checkpoint thread copies the write-ahead log into the database file. */
const CHECKPOINT_INTERVAL_MS = 500
/**
 * The thread starts this long after the node: a node that stops sooner (a CLI command, a test) never
 * pays for starting one, and in the first second the log cannot have grown far.
 */
const START_DELAY_MS = 1000
/**
 * The main connection still checkpoints by itself past this many WAL pages (4 KiB each, so 64 MiB):
 * a backstop should the checkpoint thread fall behind or stop, so the log never grows without end.
 */
const BACKSTOP_PAGES = 16_384

/**
 * SQLite in WAL mode appends every commit to the log; a checkpoint copies the log back into the
 * database file. By default the connection that commits does it, every 1,000 pages, inside a
 * request, which costs that request its latency and the node its throughput (docs/performance.md).
 * Here a worker thread with its own connection runs passive checkpoints twice a second, on another
 * core, and the main connection keeps only a far-off backstop.
 */
export class Checkpointer {
  #worker: Worker | null = null
  readonly #timer: NodeJS.Timeout
  #stopped = false

  private constructor(input: { file: string; log: (message: string) => void }) {
    this.#timer = setTimeout(() => {
      this.#worker = Checkpointer.#spawn(input)
    }, START_DELAY_MS)
    this.#timer.unref()
  }

  static start(input: {
    file: string
    sqlite: Sqlite.Database
    log: (message: string) => void
  }): Checkpointer {
    input.sqlite.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`)
    return new Checkpointer(input)
  }

  static #spawn(input: { file: string; log: (message: string) => void }): Worker {
    const worker = new Worker(fileURLToPath(new URL('./checkpoint-worker.mjs', import.meta.url)), {
      workerData: { file: input.file, intervalMs: CHECKPOINT_INTERVAL_MS },
      // The worker is plain JavaScript: the parent's loaders (a TypeScript loader, a test runner's
      // preloads) would only cost its start.
      execArgv: [],
    })
    worker.on('message', (message: { type: string; message?: string }) => {
      if (message.type === 'error') input.log(`checkpoint failed: ${message.message}`)
    })
    // A thread that died leaves the backstop in charge; the node keeps working.
    worker.on('error', (error) => input.log(`checkpoint thread stopped: ${error.message}`))
    worker.unref()
    return worker
  }

  /** Runs a last checkpoint and closes the thread's connection. */
  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    clearTimeout(this.#timer)
    const worker = this.#worker
    // Not started yet: closing the main connection checkpoints what the log holds.
    if (!worker) return
    const stopped = once(worker, 'message')
    worker.postMessage('stop')
    await Promise.race([stopped, once(worker, 'exit'), new Promise((resolve) => setTimeout(resolve, 2000))])
    await worker.terminate()
  }
}
