import { sql } from 'drizzle-orm'
import { type Executor, rows } from '../db/client.ts'
import { rateWindows } from '../db/schema.ts'
import { RelayError, type RelayErrorCode } from '../errors.ts'

export type RateWindowKind = 'registration-address' | 'request-address' | 'request-instance'

/**
 * Every limit here counts per fixed hour (aligned to the clock's hours): simple to explain and one row
 * per key and hour. An attempt at the end of one hour and another at the start of the next are in
 * different windows, so at most twice the limit can pass in any sixty minutes.
 */
export const WINDOW_MS = 3_600_000

export type Limit = {
  kind: RateWindowKind
  /** An address key (`addressKey`) or an instance id. */
  key: string
  /** Attempts allowed per window. */
  max: number
  /** For the refusal's reason, e.g. "registrations from this address". */
  what: string
}

/**
 * Counts one attempt against each limit, in one statement every replica shares, and refuses with
 * `code` (429, Retry-After until the window ends) if any is past its maximum. A refused attempt counts
 * too: hammering a limit does not help, and the window still ends on time.
 */
export async function countAttempt(
  executor: Executor,
  props: { limits: Limit[]; code: RelayErrorCode; nowMs: number },
): Promise<void> {
  if (props.limits.length === 0) return
  const windowStart = Math.floor(props.nowMs / WINDOW_MS) * WINDOW_MS
  const counted = await executor
    .insert(rateWindows)
    .values(props.limits.map((limit) => ({ kind: limit.kind, key: limit.key, windowStart, count: 1 })))
    .onConflictDoUpdate({
      target: [rateWindows.kind, rateWindows.key, rateWindows.windowStart],
      set: { count: sql`${rateWindows.count} + 1` },
    })
    .returning({ kind: rateWindows.kind, count: rateWindows.count })
  const exceeded = props.limits.find(
    (limit) => (counted.find((row) => row.kind === limit.kind)?.count ?? 0) > limit.max,
  )
  if (!exceeded) return
  const retryAfterS = Math.max(1, Math.ceil((windowStart + WINDOW_MS - props.nowMs) / 1000))
  throw new RelayError(
    props.code,
    `more than ${exceeded.max} ${exceeded.what} in an hour; retry in ${retryAfterS} s`,
    { headers: { 'retry-after': String(retryAfterS) } },
  )
}

/** Rows deleted per statement, so a backlog of ended windows never holds long locks. */
const PURGE_BATCH = 10_000

/**
 * Drops the windows that have ended, in batches; the retention job runs it. Only the count comes back,
 * not the rows: after a flood of spam there can be very many.
 */
export async function purgeRateWindows(executor: Executor, nowMs: number): Promise<number> {
  let total = 0
  for (;;) {
    const [batch] = await rows<{ n: number }>(
      executor,
      sql`with gone as (
            delete from ${rateWindows} where ctid in (
              select ctid from ${rateWindows} where ${rateWindows.windowStart} <= ${nowMs - WINDOW_MS}
              limit ${PURGE_BATCH})
            returning 1)
          select count(*)::int as n from gone`,
    )
    const deleted = Number(batch?.n ?? 0)
    total += deleted
    if (deleted < PURGE_BATCH) return total
  }
}
