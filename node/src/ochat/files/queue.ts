/** What a job answers: done (success or a final failure), or try again after this many ms. */
export type JobOutcome = { done: true } | { retryInMs: number }

type Job = (signal: AbortSignal) => Promise<JobOutcome>

/** The longest delay a timer takes, 2^31-1 ms (about 24.8 days): a longer one fires at once, and would spin. */
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * A small queue for file transfers: jobs keyed so the same file is never moved twice at once, at most
 * `concurrency` running (each one is a stream, so memory stays bounded by that number), retries on
 * timers. A job asked for again while it runs runs once more afterwards. `stop` aborts what runs and
 * waits for it to settle.
 */
export class TransferQueue {
  readonly #concurrency: number
  readonly #onError: (key: string, error: unknown) => void
  readonly #waiting = new Map<string, Job>()
  readonly #running = new Map<string, { again: Job | undefined; done: Promise<void> }>()
  readonly #timers = new Map<string, NodeJS.Timeout>()
  readonly #abort = new AbortController()

  constructor(props: {
    concurrency: number
    /** A job that threw instead of answering: logged, and retried by its owner's next scan. */
    onError: (key: string, error: unknown) => void
  }) {
    this.#concurrency = props.concurrency
    this.#onError = props.onError
  }

  get stopped(): boolean {
    return this.#abort.signal.aborted
  }

  /** Runs `job` as soon as a place is free (now, if one is), unless it is already waiting. */
  add(key: string, job: Job): void {
    if (this.stopped) return
    clearTimeout(this.#timers.get(key))
    this.#timers.delete(key)
    const running = this.#running.get(key)
    if (running) {
      running.again = job
      return
    }
    this.#waiting.set(key, job)
    this.#pump()
  }

  async stop(): Promise<void> {
    this.#abort.abort()
    for (const timer of this.#timers.values()) clearTimeout(timer)
    this.#timers.clear()
    this.#waiting.clear()
    await Promise.allSettled([...this.#running.values()].map((entry) => entry.done))
  }

  #pump(): void {
    while (!this.stopped && this.#running.size < this.#concurrency) {
      const next = this.#waiting.entries().next()
      if (next.done) return
      const [key, job] = next.value
      this.#waiting.delete(key)
      this.#run(key, job)
    }
  }

  #run(key: string, job: Job): void {
    const entry: { again: Job | undefined; done: Promise<void> } = {
      again: undefined,
      done: Promise.resolve(),
    }
    entry.done = job(this.#abort.signal)
      .catch((error: unknown): JobOutcome => {
        if (!this.stopped) this.#onError(key, error)
        return { done: true }
      })
      .then((outcome) => {
        this.#running.delete(key)
        if (this.stopped) return
        if (entry.again) this.#waiting.set(key, entry.again)
        else if ('retryInMs' in outcome) {
          const timer = setTimeout(
            () => {
              this.#timers.delete(key)
              this.add(key, job)
            },
            Math.min(outcome.retryInMs, MAX_TIMER_MS),
          )
          timer.unref()
          this.#timers.set(key, timer)
        }
        this.#pump()
      })
    this.#running.set(key, entry)
  }
}
