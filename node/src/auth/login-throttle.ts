import { addressKey } from '@ochat/shared-protocol'

/**
 * Slows down password guessing without handing anyone a way to lock a user out.
 *
 * - Per (login, address): 3 failures within an hour are free; after that, each attempt waits for a
 *   delay that doubles with every failure (1 s, 2 s, 4 s … capped at 5 minutes) after the last one.
 *   Guessing from one address stays slow, while the real user at another address is not touched.
 * - Per address: a looser budget of 20 failures an hour over all logins, then the same growing delay,
 *   so one address cannot spray guesses over many logins.
 * - Per login: 100 failures an hour from anywhere, then the same growing delay, so many addresses
 *   together (a botnet, an IPv6 block) cannot guess one account without bound either.
 * - A trusted client (a browser holding a valid device cookie for the login, or a valid session of
 *   that user) skips all three: it answers only for its own failures, and after 5 within a day it
 *   loses that trust and is throttled like anyone else. This is what keeps the correct password
 *   working while an attacker is failing on the same login, or from behind the same address.
 *
 * An attempt counts as a failure from the moment its password starts being checked (`reserve`), and
 * is given back if the password was right: checking takes a while, and guesses sent side by side
 * must not all pass the check before the first one has failed.
 *
 * Kept in memory: a node is one process, and a restart only forgives.
 */
const HOUR_MS = 60 * 60 * 1000
const PAIR = { free: 3, windowMs: HOUR_MS }
const ADDRESS = { free: 20, windowMs: HOUR_MS }
const LOGIN = { free: 100, windowMs: HOUR_MS }
const CLIENT = { maxFailures: 5, windowMs: 24 * HOUR_MS }
const FIRST_DELAY_MS = 1000
const MAX_DELAY_MS = 5 * 60 * 1000
/** Failures kept per key: past the free ones plus this many the delay is at its cap anyway. */
const KEEP_BEYOND_FREE = 10
/** Past this many keys in one map, expired ones are dropped, at most once per PRUNE_EVERY failures. */
const PRUNE_ABOVE = 10_000
const PRUNE_EVERY = 1_000
/** Past this many live keys, the least recently failing are forgotten: memory stays bounded. */
const HARD_CAP = 100_000

export type LoginAttempt = {
  login: string
  /** The client's address (request.ip, through NODE_TRUST_PROXY). */
  address: string
  /**
   * Set when the request proved it comes from a client of this login's user: `device:<nonce>` for a
   * valid device cookie, `session:<token hash>` for a valid session.
   */
  trustedClient?: string | undefined
  now: number
}

export class LoginThrottle {
  #pairs = new Map<string, number[]>()
  #addresses = new Map<string, number[]>()
  #logins = new Map<string, number[]>()
  #clients = new Map<string, number[]>()

  /** Milliseconds to wait before trying again, or 0 when an attempt is allowed now. */
  retryAfterMs(attempt: LoginAttempt): number {
    if (this.isTrusted(attempt)) return 0
    return Math.max(
      wait(recent(this.#pairs, pairKey(attempt), PAIR.windowMs, attempt.now), PAIR.free, attempt.now),
      wait(
        recent(this.#addresses, addressKey(attempt.address), ADDRESS.windowMs, attempt.now),
        ADDRESS.free,
        attempt.now,
      ),
      wait(recent(this.#logins, loginKey(attempt), LOGIN.windowMs, attempt.now), LOGIN.free, attempt.now),
    )
  }

  /** Whether the attempt's client is trusted and has not lost that trust by failing too often. */
  isTrusted(attempt: LoginAttempt): boolean {
    if (attempt.trustedClient === undefined) return false
    const failures = recent(this.#clients, attempt.trustedClient, CLIENT.windowMs, attempt.now)
    return failures.length < CLIENT.maxFailures
  }

  /**
   * Counts the attempt as a failure now, before its password is checked; the function returned gives
   * it back, for a password that was right.
   */
  reserve(attempt: LoginAttempt): () => void {
    // A trusted client's typos are its own: they must not slow down the login for others.
    const counted: [Map<string, number[]>, string][] =
      this.isTrusted(attempt) && attempt.trustedClient !== undefined
        ? [[this.#clients, attempt.trustedClient]]
        : [
            [this.#pairs, pairKey(attempt)],
            [this.#addresses, addressKey(attempt.address)],
            [this.#logins, loginKey(attempt)],
          ]
    for (const [map, key] of counted) this.#add(map, key, attempt.now)
    return () => {
      for (const [map, key] of counted) {
        const failures = map.get(key)
        const index = failures?.lastIndexOf(attempt.now) ?? -1
        if (failures && index >= 0) failures.splice(index, 1)
      }
    }
  }

  #add(map: Map<string, number[]>, key: string, now: number): void {
    const [windowMs, keep] =
      map === this.#clients
        ? [CLIENT.windowMs, CLIENT.maxFailures]
        : map === this.#pairs
          ? [PAIR.windowMs, PAIR.free + KEEP_BEYOND_FREE]
          : map === this.#addresses
            ? [ADDRESS.windowMs, ADDRESS.free + KEEP_BEYOND_FREE]
            : [LOGIN.windowMs, LOGIN.free + KEEP_BEYOND_FREE]
    add(map, key, windowMs, keep, now)
    if (map.size > PRUNE_ABOVE && ++this.#sincePrune >= PRUNE_EVERY) {
      this.#sincePrune = 0
      for (const [other] of map) if (recent(map, other, windowMs, now).length === 0) map.delete(other)
    }
  }

  #sincePrune = 0

  /**
   * The right password clears its client's count, or else its (login, address) count; the address
   * keeps its budget. A trusted client's success leaves the pair alone: a guesser behind the same
   * address must not get fresh free guesses each time the user logs in.
   */
  succeeded(attempt: LoginAttempt): void {
    if (this.isTrusted(attempt) && attempt.trustedClient !== undefined)
      this.#clients.delete(attempt.trustedClient)
    else this.#pairs.delete(pairKey(attempt))
  }
}

function loginKey(attempt: LoginAttempt): string {
  return attempt.login.toLowerCase()
}

function pairKey(attempt: LoginAttempt): string {
  return `${attempt.login.toLowerCase()}\n${addressKey(attempt.address)}`
}

function recent(map: Map<string, number[]>, key: string, windowMs: number, now: number): number[] {
  return (map.get(key) ?? []).filter((at) => now - at < windowMs)
}

function add(map: Map<string, number[]>, key: string, windowMs: number, keep: number, now: number): void {
  const failures = [...recent(map, key, windowMs, now), now].slice(-keep)
  // Deleted first so the map's order is the order of last failure: the oldest go first at the cap.
  map.delete(key)
  map.set(key, failures)
  for (const [other] of map) {
    if (map.size <= HARD_CAP) break
    map.delete(other)
  }
}

/** The wait after the last failure: nothing within the free ones, then 1 s doubling per failure. */
function wait(failures: number[], free: number, now: number): number {
  const last = failures.at(-1)
  if (last === undefined || failures.length < free) return 0
  const delay = Math.min(FIRST_DELAY_MS * 2 ** (failures.length - free), MAX_DELAY_MS)
  return Math.max(0, last + delay - now)
}
