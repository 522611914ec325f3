import { desc, lt, lte, max } from 'drizzle-orm'
import { z } from 'zod'
import type { Db } from '../db/client.ts'
import { loginAttempts } from '../db/schema.ts'

/** Failed logins are shown to administrators for this long: 30 days. */
const KEEP_MS = 30 * 24 * 3600 * 1000
/** And at most this many rows, however fast a guessing run goes. */
const KEEP_ROWS = 100_000
/** Old rows are purged at most this often (1 hour), or after this many inserts. */
const PURGE_EVERY_MS = 60 * 60 * 1000
const PURGE_EVERY_INSERTS = 1_000
/** A throttled attempt is recorded once per (login, address) in this long: 1 minute. */
const THROTTLED_EVERY_MS = 60 * 1000
/** Past this many (login, address) pairs remembered for that, the memory starts again. */
const THROTTLED_KEYS_MAX = 10_000
/** Long user agents are cut: they are for a human to read, not to store whatever a client sends. */
const USER_AGENT_MAX = 300

export const LoginAttemptViewSchema = z.object({
  id: z.int(),
  /** The login name tried; it may name no user. */
  login: z.string(),
  address: z.string(),
  userAgent: z.string().nullable(),
  /** True: refused with 429 before the password was checked; false: a wrong password. */
  throttled: z.boolean(),
  at: z.int(),
})
export type LoginAttemptView = z.infer<typeof LoginAttemptViewSchema>

/** Records failed and throttled logins (never the password), and keeps their table bounded. */
export class LoginAttemptLog {
  readonly #db: Db
  #lastPurgeAt = Number.NEGATIVE_INFINITY
  #insertsSincePurge = 0

  readonly #throttledAt = new Map<string, number>()

  constructor(db: Db) {
    this.#db = db
  }

  /**
   * A refused attempt costs its sender nothing, so it is recorded at most once a minute per login and
   * address: a flood of them must neither fill the table nor push the real failures out of it.
   */
  recordThrottled(input: {
    login: string
    address: string
    userAgent: string | undefined
    now: number
  }): void {
    const key = `${input.login}\n${input.address}`
    const last = this.#throttledAt.get(key)
    if (last !== undefined && input.now - last < THROTTLED_EVERY_MS) return
    if (this.#throttledAt.size >= THROTTLED_KEYS_MAX) this.#throttledAt.clear()
    this.#throttledAt.set(key, input.now)
    this.record({ ...input, throttled: true })
  }

  record(input: {
    login: string
    address: string
    userAgent: string | undefined
    throttled: boolean
    now: number
  }): void {
    this.#db
      .insert(loginAttempts)
      .values({
        login: input.login,
        address: input.address,
        userAgent: input.userAgent?.slice(0, USER_AGENT_MAX) ?? null,
        throttled: input.throttled,
        at: input.now,
      })
      .run()
    this.#insertsSincePurge++
    if (input.now - this.#lastPurgeAt >= PURGE_EVERY_MS || this.#insertsSincePurge >= PURGE_EVERY_INSERTS)
      this.purge(input.now)
  }

  purge(now: number): void {
    this.#lastPurgeAt = now
    this.#insertsSincePurge = 0
    this.#db
      .delete(loginAttempts)
      .where(lt(loginAttempts.at, now - KEEP_MS))
      .run()
    const newest = this.#db
      .select({ id: max(loginAttempts.id) })
      .from(loginAttempts)
      .get()?.id
    if (newest != null && newest > KEEP_ROWS)
      this.#db
        .delete(loginAttempts)
        .where(lte(loginAttempts.id, newest - KEEP_ROWS))
        .run()
  }

  /** Newest first; `before` is the id the previous page ended at. */
  list(input: { before: number | undefined; limit: number }): LoginAttemptView[] {
    return this.#db
      .select()
      .from(loginAttempts)
      .where(input.before !== undefined ? lt(loginAttempts.id, input.before) : undefined)
      .orderBy(desc(loginAttempts.id))
      .limit(input.limit)
      .all()
      .map(presentLoginAttempt)
  }
}

export function presentLoginAttempt(row: typeof loginAttempts.$inferSelect): LoginAttemptView {
  return {
    id: row.id,
    login: row.login,
    address: row.address,
    userAgent: row.userAgent,
    throttled: row.throttled,
    at: row.at,
  }
}
