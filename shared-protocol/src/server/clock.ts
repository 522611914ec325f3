/**
 * The only source of time in the relay and the node, so tests can fake it (retry schedules, deadlines,
 * rate windows, sessions, activity states).
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  #now: number
  /** `start`: milliseconds since the Unix epoch; the real time by default. */
  constructor(start = Date.now()) {
    this.#now = start
  }
  now(): number {
    return this.#now
  }
  advance(ms: number): void {
    this.#now += ms
  }
  set(ms: number): void {
    this.#now = ms
  }
}
