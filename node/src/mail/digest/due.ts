import { localDateAndHour } from '../../activities/dates.ts'

/**
 * When a user's digest is due. "Today" and the hour are read on the user's own wall clock, so the
 * digest comes at 08:00 where they are, whatever the server's zone. A day is the local date: it gets
 * at most one digest, whatever the clocks do.
 */

/**
 * The local date to queue a digest for, or null when none is due: the user's hour has come today and
 * no digest was queued for today or a later date. "Later" matters when someone moves west: a date
 * already served in the old zone is not served again in the new one. On the day the clocks skip the
 * chosen hour (02:00 → 03:00), the first hour past it counts; on the day they repeat it, the date
 * was already served the first time.
 */
export function digestDue(input: {
  now: number
  timeZone: string
  /** The local hour, 0-23, from which the digest goes. */
  hour: number
  /** The local date of the last digest queued (or skipped), `YYYY-MM-DD`. */
  sentOn: string | null
}): string | null {
  const local = localDateAndHour(input.now, input.timeZone)
  if (local.hour < input.hour) return null
  if (input.sentOn !== null && input.sentOn >= local.date) return null
  return local.date
}
