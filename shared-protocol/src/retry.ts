/**
 * The retry schedule of a delivery (PROTOCOL.md §7), one for both servers: the relay retries a
 * recipient's node on it, and a node's outbox retries the relay on it, so a sender's "next attempt"
 * means the same thing at both hops.
 *
 * Delay before each attempt, by how many attempts failed so far: 0, 5 s, 30 s, 2 min, 10 min, 30 min,
 * 1 h; from then on every 3 h, times a jitter between 0.8 and 1.4 so that the nodes a long outage left
 * waiting do not all come back in the same second. After 72 h without success the delivery is Failed.
 */
export const RETRY_SCHEDULE = Object.freeze({
  /** Delays of the first attempts, in ms, indexed by the count of failed attempts. */
  stepsMs: Object.freeze([0, 5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000]),
  /** Past the steps: every 3 h, in ms, times the jitter. */
  laterMs: 3 * 3_600_000,
  jitterMin: 0.8,
  jitterMax: 1.4,
  /** A delivery that has not succeeded this long after it was written is Failed: 72 h, in ms. */
  deadlineMs: 72 * 3_600_000,
})

/**
 * Delay in ms before the next attempt, once `attempts` attempts failed. `random` (in [0, 1)) picks the
 * jitter past the fixed steps; tests pass their own. `scale` (in (0, 1]) shortens every delay by that
 * factor, for test and staging setups that cannot wait minutes for a retry (RELAY_RETRY_SCALE,
 * NODE_OCHAT_RETRY_SCALE); production keeps 1. It leaves the deadline alone: a delivery is given the
 * same 72 h, tried more often.
 */
export function retryDelayMs(attempts: number, random: () => number = Math.random, scale = 1): number {
  const step = RETRY_SCHEDULE.stepsMs[attempts]
  // Whole milliseconds: the times built from a delay are stored in integer columns.
  if (step !== undefined) return Math.round(step * scale)
  const { laterMs, jitterMin, jitterMax } = RETRY_SCHEDULE
  return Math.round(laterMs * scale * (jitterMin + random() * (jitterMax - jitterMin)))
}
