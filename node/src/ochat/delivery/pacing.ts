import { RATE_BOUNDS, type Rate, type SubmitRates } from '@ochat/shared-protocol'

/**
 * What a relay that does not publish its rates allows (PROTOCOL.md §4.4): the relay's own defaults,
 * 60 envelopes at once then 10 per second per recipient, and 2,000 then 200 per second per sender.
 */
export const DEFAULT_SUBMIT_RATES: SubmitRates = Object.freeze({
  connection: Object.freeze({ burst: 60, perSecond: 10 }),
  instance: Object.freeze({ burst: 2000, perSecond: 200 }),
})

/**
 * The longest wait the relay may ask for (a `retry in N s` reason, a Retry-After header): 1 h. Its
 * limits refill in seconds, so a longer wait is a mistake or an attack, and it would hold messages,
 * receipts and files for that long; a timer beyond 2^31-1 ms even fires at once, and spins. After an
 * hour we simply ask again.
 */
export const MAX_RELAY_WAIT_MS = 3_600_000

type Bucket = { tokens: number; at: number }

/** The plan for one candidate envelope: go now (its tokens are taken), or look again in `waitMs`. */
export type Slot = { ok: true } | { ok: false; waitMs: number }

/**
 * The relay's token buckets, mirrored on the sender (PROTOCOL.md §4.4): one per recipient instance and
 * one for this instance, with the rates the relay publishes in GET /v1/rates. The outbox takes a token for
 * each envelope before it submits it, so a backlog leaves at the rate the relay takes it instead of
 * overflowing the burst and being told to wait. The relay refills its buckets from when it receives,
 * which is after we send, so it never holds fewer tokens than this mirror. A restart starts full; the
 * first `rate-limited:` answer empties the mirror again (`limited`).
 */
export class SubmitPacer {
  readonly #now: () => number
  #rates: SubmitRates = DEFAULT_SUBMIT_RATES
  readonly #connections = new Map<string, Bucket>()
  #instance: Bucket | undefined

  constructor(props: { now: () => number }) {
    this.#now = props.now
  }

  get rates(): SubmitRates {
    return this.#rates
  }

  /**
   * The rates the relay published, or the defaults when it publishes none. Clamped to what the
   * protocol lets a relay publish, whoever built them: the waits are computed from them.
   */
  useRates(rates: SubmitRates | undefined): void {
    this.#rates = rates
      ? { connection: bounded(rates.connection), instance: bounded(rates.instance) }
      : DEFAULT_SUBMIT_RATES
  }

  /**
   * Plans a batch of envelopes, one recipient each, in order: those with a token in both buckets go
   * now and take them; the others get the time at which the buckets will have refilled for them, as if
   * each waited behind the ones before it. Nothing is reserved for those: when they come back they take
   * tokens like any other envelope, so one that finds none is simply planned again.
   */
  plan(recipients: string[]): Slot[] {
    const now = this.#now()
    const instance = this.#refilled(this.#instance, this.#rates.instance, now)
    this.#instance = instance
    let instanceWaiting = 0
    const waiting = new Map<string, number>()
    return recipients.map((recipient) => {
      const connection = this.#refilled(this.#connections.get(recipient), this.#rates.connection, now)
      this.#connections.set(recipient, connection)
      const behind = waiting.get(recipient) ?? 0
      const connectionOk = behind === 0 && connection.tokens >= 1
      const instanceOk = instanceWaiting === 0 && instance.tokens >= 1
      if (connectionOk && instanceOk) {
        connection.tokens -= 1
        instance.tokens -= 1
        return { ok: true }
      }
      if (!connectionOk) waiting.set(recipient, behind + 1)
      if (!instanceOk) instanceWaiting += 1
      const waitMs = Math.max(
        connectionOk ? 0 : refillMs(connection.tokens, behind + 1, this.#rates.connection),
        instanceOk ? 0 : refillMs(instance.tokens, instanceWaiting, this.#rates.instance),
      )
      return { ok: false, waitMs }
    })
  }

  /**
   * The relay said this recipient's envelopes must wait: its bucket is empty whatever ours says (a
   * restart, another sender's clock, a lower limit than it published). Ours is emptied to match.
   */
  limited(recipient: string): void {
    const now = this.#now()
    this.#connections.set(recipient, { tokens: 0, at: now })
  }

  #refilled(bucket: Bucket | undefined, rate: Rate, now: number): Bucket {
    if (!bucket) return { tokens: rate.burst, at: now }
    const tokens = Math.min(
      rate.burst,
      bucket.tokens + (Math.max(0, now - bucket.at) * rate.perSecond) / 1000,
    )
    return { tokens, at: now }
  }
}

function bounded(rate: Rate): Rate {
  const clamp = (value: number, range: { min: number; max: number }) =>
    Number.isNaN(value) ? range.min : Math.min(range.max, Math.max(range.min, value))
  return {
    burst: Math.floor(clamp(rate.burst, RATE_BOUNDS.burst)),
    perSecond: clamp(rate.perSecond, RATE_BOUNDS.perSecond),
  }
}

/** Ms until a bucket holding `tokens` holds `needed` (at least 1 ms, so a timer is always set ahead). */
function refillMs(tokens: number, needed: number, rate: Rate): number {
  return Math.max(1, Math.ceil(((needed - tokens) * 1000) / rate.perSecond))
}

/** How long a `rate-limited: retry in N s` answer asks to wait, in ms (1 s when it does not say). */
export function retryAfterMsOf(reason: string): number {
  const seconds = /retry in (\d+) s/.exec(reason)?.[1]
  return relayWaitMs(seconds === undefined ? undefined : Number(seconds))
}

/** A wait the relay asked for, in seconds, as ms: at least 1 s (also when it did not say), at most 1 h. */
export function relayWaitMs(seconds: number | undefined): number {
  return Math.min(MAX_RELAY_WAIT_MS, Math.max(1, seconds ?? 1) * 1_000)
}
