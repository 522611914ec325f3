/**
 * Token buckets kept in memory, per replica (PROTOCOL.md §4.4: per instance and per connection; 60
 * burst and 10/s per connection by default). With N replicas behind a balancer an instance can get up
 * to N× the rate; the per-connection limit is about fairness between peers, not a hard quota.
 */
export class RateLimiter {
  readonly #burst: number
  readonly #perMs: number
  readonly #buckets = new Map<string, { tokens: number; at: number }>()

  constructor(props: { burst: number; perSecond: number }) {
    this.#burst = props.burst
    this.#perMs = props.perSecond / 1000
  }

  /** Takes `count` tokens if all are there; otherwise takes none and says how long to wait, in ms. */
  take(key: string, count: number, nowMs: number): { ok: true } | { ok: false; retryAfterMs: number } {
    const bucket = this.#buckets.get(key) ?? { tokens: this.#burst, at: nowMs }
    bucket.tokens = Math.min(this.#burst, bucket.tokens + (nowMs - bucket.at) * this.#perMs)
    bucket.at = nowMs
    this.#buckets.set(key, bucket)
    if (bucket.tokens >= count) {
      bucket.tokens -= count
      return { ok: true }
    }
    return {
      ok: false,
      retryAfterMs: Math.ceil((Math.min(count, this.#burst) - bucket.tokens) / this.#perMs),
    }
  }

  /** Forgets full buckets, so memory follows active senders only. */
  prune(nowMs: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (bucket.tokens + (nowMs - bucket.at) * this.#perMs >= this.#burst) this.#buckets.delete(key)
    }
  }
}
