/**
 * Slows down password guessing: after 5 failed logins for one login name, or 20 from one address,
 * within 15 minutes, further attempts are refused (429) until the oldest of those failures is 15
 * minutes old. A success clears the login's count. Kept in memory: a node is one process, and a
 * restart only forgives.
 */
const WINDOW_MS = 15 * 60 * 1000
const MAX_PER_LOGIN = 5
const MAX_PER_ADDRESS = 20
/** Past this many keys, expired ones are dropped on the next failure. */
const PRUNE_ABOVE = 10_000

export class LoginThrottle {
  #byLogin = new Map<string, number[]>()
  #byAddress = new Map<string, number[]>()

  /** Milliseconds to wait before trying again, or 0 when an attempt is allowed now. */
  retryAfterMs(input: { login: string; address: string; now: number }): number {
    return Math.max(
      wait(recent(this.#byLogin, input.login.toLowerCase(), input.now), MAX_PER_LOGIN, input.now),
      wait(recent(this.#byAddress, input.address, input.now), MAX_PER_ADDRESS, input.now),
    )
  }

  failed(input: { login: string; address: string; now: number }): void {
    for (const [map, key] of [
      [this.#byLogin, input.login.toLowerCase()],
      [this.#byAddress, input.address],
    ] as const) {
      map.set(key, [...recent(map, key, input.now), input.now])
      if (map.size > PRUNE_ABOVE)
        for (const [other] of map) if (recent(map, other, input.now).length === 0) map.delete(other)
    }
  }

  succeeded(input: { login: string }): void {
    this.#byLogin.delete(input.login.toLowerCase())
  }
}

function recent(map: Map<string, number[]>, key: string, now: number): number[] {
  return (map.get(key) ?? []).filter((at) => now - at < WINDOW_MS)
}

function wait(failures: number[], max: number, now: number): number {
  if (failures.length < max) return 0
  const oldestCounted = failures[failures.length - max] ?? now
  return Math.max(0, oldestCounted + WINDOW_MS - now)
}
