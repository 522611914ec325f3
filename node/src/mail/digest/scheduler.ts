import type { Clock } from '@ochat/shared-protocol/server'
import { and, eq, isNotNull, ne } from 'drizzle-orm'
import type { FastifyBaseLogger } from 'fastify'
import type { Database } from '../../db/client.ts'
import { partners, users } from '../../db/schema.ts'
import type { WriteQueue } from '../../db/write-queue.ts'
import type { SiteSettings } from '../../settings.ts'
import { digestDue } from './due.ts'
import { type DigestOutcome, queueDigest } from './queue-digest.ts'

export type DigestSchedulerDeps = {
  database: Pick<Database, 'db'>
  writes: WriteQueue
  /** The node's clock: what is due is decided by it, so tests move time instead of waiting. */
  clock: Clock
  site: Pick<SiteSettings, 'company' | 'publicUrl'>
  log: Pick<FastifyBaseLogger, 'error'>
  /** Told after the commit of digests queued, so they go out now rather than at the sender's next poll. */
  kickMail: () => void
  /** How often due digests are looked for, in ms; a minute by default. */
  everyMs?: number
}

/**
 * Queues each user's daily digest once their local hour has come (due.ts decides, queue-digest.ts
 * writes). It keeps nothing in memory: the day taken is on the user's row, so a restart or a second
 * process does not queue a day twice, and a node that was down at the hour queues it at its next tick.
 */
export class DigestScheduler {
  readonly #deps: DigestSchedulerDeps
  readonly #timer: NodeJS.Timeout
  #running: Promise<number> | null = null
  #closed = false

  constructor(deps: DigestSchedulerDeps) {
    this.#deps = deps
    this.#timer = setInterval(() => void this.tick(), deps.everyMs ?? 60_000)
    this.#timer.unref()
  }

  /**
   * Queues the digests due now; answers how many were queued. A tick asked while one runs gets that
   * one's answer: what it would have found, the running one finds or leaves for the next minute.
   */
  tick(): Promise<number> {
    if (this.#closed) return Promise.resolve(0)
    this.#running ??= this.#pass()
      .catch((error) => {
        this.#deps.log.error({ err: error }, 'digest: a pass failed')
        return 0
      })
      .finally(() => {
        this.#running = null
      })
    return this.#running
  }

  /** Stops the timer and waits for a pass under way; a second call waits the same way. */
  async close(): Promise<void> {
    this.#closed = true
    clearInterval(this.#timer)
    await this.#running
  }

  async #pass(): Promise<number> {
    const { database, writes, clock, site, log } = this.#deps
    const now = clock.now()
    const due = database.db
      .select({
        userId: users.id,
        timeZone: users.timeZone,
        hour: users.digestHour,
        sentOn: users.digestSentOn,
      })
      .from(users)
      .innerJoin(partners, eq(partners.id, users.partnerId))
      // Without an address there is nothing to send (the API refuses the digest without one).
      .where(
        and(
          eq(users.digest, true),
          eq(users.active, true),
          isNotNull(partners.email),
          ne(partners.email, ''),
        ),
      )
      .all()
      .filter((user) => {
        try {
          return digestDue({ now, ...user }) !== null
        } catch (error) {
          // A zone this runtime does not know (stored before an update of its time zone data).
          log.error({ err: error, userId: user.userId }, 'digest: the time zone cannot be read')
          return false
        }
      })
    // One write each, in its own savepoint: a digest that cannot be written is logged, the others go.
    const outcomes = await Promise.all(
      due.map((user) =>
        writes
          .run((tx) => queueDigest(tx, { userId: user.userId, now, site }))
          .catch((error): DigestOutcome => {
            log.error({ err: error, userId: user.userId }, 'digest: could not be queued')
            return 'not due'
          }),
      ),
    )
    const queued = outcomes.filter((outcome) => outcome === 'queued').length
    if (queued > 0) this.#deps.kickMail()
    return queued
  }
}
