import { getTableName } from 'drizzle-orm'
import type { Tx } from './client.ts'
import { once } from './raw.ts'
import { automationFirings, automationRuns, webhookAttempts, webhookMessages } from './schema.ts'

/** Webhook messages delivered or failed for good are kept this long, with their attempts. */
export const WEBHOOK_RETENTION_MS = 30 * 24 * 3_600_000
/**
 * Automation runs are kept this long, and so are the time-based firings: a moment that long past is
 * behind every rule's `checkedUntil`, so forgetting it cannot make it fire again.
 */
export const RUN_RETENTION_MS = 90 * 24 * 3_600_000
/** Rows removed per statement, so one sweep never holds the write queue for long. */
const BATCH = 5_000

/**
 * Removes what is only history and grows with every change: finished webhook deliveries (their
 * payloads can be large) and old automation runs. Pending and paused deliveries stay whatever their
 * age. Answers how many rows went; a full batch means there may be more.
 */
export function pruneHistory(tx: Tx, now: number): { messages: number; runs: number; firings: number } {
  const messages = getTableName(webhookMessages)
  const attempts = getTableName(webhookAttempts)
  const runsTable = getTableName(automationRuns)
  const old = once(tx, 'housekeeping.oldMessages', (sqlite) =>
    sqlite.prepare(
      `select id from ${messages} where status in ('delivered', 'failed') and created_at < ? order by id limit ${BATCH}`,
    ),
  ).all(now - WEBHOOK_RETENTION_MS) as { id: number }[]
  if (old.length > 0) {
    const ids = JSON.stringify(old.map((row) => row.id))
    once(tx, 'housekeeping.attempts', (sqlite) =>
      sqlite.prepare(`delete from ${attempts} where message_id in (select value from json_each(?))`),
    ).run(ids)
    once(tx, 'housekeeping.messages', (sqlite) =>
      sqlite.prepare(`delete from ${messages} where id in (select value from json_each(?))`),
    ).run(ids)
  }
  const runs = once(tx, 'housekeeping.runs', (sqlite) =>
    sqlite.prepare(
      `delete from ${runsTable} where id in (select id from ${runsTable} where at < ? order by id limit ${BATCH})`,
    ),
  ).run(now - RUN_RETENTION_MS).changes
  const firingsTable = getTableName(automationFirings)
  const firings = once(tx, 'housekeeping.firings', (sqlite) =>
    sqlite.prepare(
      `delete from ${firingsTable} where rowid in (select rowid from ${firingsTable} where at < ? order by at limit ${BATCH})`,
    ),
  ).run(now - RUN_RETENTION_MS).changes
  return { messages: old.length, runs, firings }
}

/** Prunes once an hour on the node's clock (and at start), batch after batch while there is more. */
export class Housekeeping {
  readonly #timer: NodeJS.Timeout
  #running: Promise<void> | null = null

  constructor(
    private readonly deps: {
      writes: { run<T>(work: (tx: Tx) => T): Promise<T> }
      clock: { now(): number }
      log: { error(object: object, message: string): void }
    },
  ) {
    this.#timer = setInterval(() => void this.sweep(), 3_600_000)
    this.#timer.unref()
  }

  /** One sweep to the end; a sweep already under way is waited for instead. */
  sweep(): Promise<void> {
    this.#running ??= this.#sweep().finally(() => {
      this.#running = null
    })
    return this.#running
  }

  async #sweep(): Promise<void> {
    try {
      for (;;) {
        const removed = await this.deps.writes.run((tx) => pruneHistory(tx, this.deps.clock.now()))
        if (removed.messages < BATCH && removed.runs < BATCH && removed.firings < BATCH) return
      }
    } catch (error) {
      // History left for the next hour: nothing a user waits for.
      this.deps.log.error({ err: error }, 'housekeeping: old history could not be pruned')
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#timer)
    await this.#running
  }
}
