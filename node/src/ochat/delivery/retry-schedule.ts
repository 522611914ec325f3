/**
 * The node's outbox retries like the relay does (DESIGN.md "Delivery contract"): 0, 5 s, 30 s, 2 min,
 * 10 min, 30 min, 1 h, then every 3 h with jitter ×(0.8–1.4), until 72 h after the message was written.
 */
const STEPS_MS = [0, 5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000]
const LONG_MS = 3 * 3_600_000
export const OUTBOX_DEADLINE_MS = 72 * 3_600_000

/** Delay before attempt number `attempt` (1 is the first retry after the first failure). */
export function retryDelayMs(attempt: number, random: () => number = Math.random): number {
  const step = STEPS_MS[attempt]
  if (step !== undefined) return step
  return Math.round(LONG_MS * (0.8 + random() * 0.6))
}
