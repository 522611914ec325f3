const MINUTE = 60_000
const HOUR = 60 * MINUTE

/** The waits after the 1st, 2nd, … temporary failure; the last one repeats. */
const DELAYS = [MINUTE, 5 * MINUTE, 15 * MINUTE, HOUR, 3 * HOUR, 6 * HOUR]

/** How long an email keeps being retried (or waits for a mail server to be set up) before it fails. */
export const GIVE_UP_AFTER_MS = 2 * 24 * HOUR

/**
 * When to try again after a temporary failure, or null when the email has been trying for long
 * enough. The last attempt is made at the deadline itself rather than skipped past it.
 */
export function nextAttemptAt(input: { attempts: number; firstAt: number; now: number }): number | null {
  const deadline = input.firstAt + GIVE_UP_AFTER_MS
  if (input.now >= deadline) return null
  const delay = DELAYS[Math.min(Math.max(input.attempts, 1), DELAYS.length) - 1] as number
  return Math.min(input.now + delay, deadline)
}
