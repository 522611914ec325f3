import type { Effects, LiveEvent } from './events.ts'

/** One connected UI client (a browser tab or an integrator's socket). */
export type LiveClient = {
  userId: number
  /** Sends these frames, in order (a publish hands each client all of its frames at once). */
  send(...texts: string[]): void
  /**
   * Asked before each event: whether this client may still hear it (its credential may have been
   * revoked, its user deactivated, or its access to the record lost since it subscribed). `round`
   * is the same for every event of one `publish`, which runs synchronously: nothing can change in
   * between, so a client may check its credential once per round.
   */
  mayHear?(event: LiveEvent, round: number): boolean
}

/**
 * Pushes events to connected clients, after the transaction that caused them committed. A client gets
 * user events for its own user, and record events for records it subscribed to (the subscription is
 * allowed only after an access check, so a client never hears about a record it cannot see).
 */
export class LiveHub {
  #byUser = new Map<number, Set<LiveClient>>()
  #byRecord = new Map<number, Set<LiveClient>>()
  #records = new Map<LiveClient, Set<number>>()
  #round = 0

  add(client: LiveClient): void {
    const set = this.#byUser.get(client.userId) ?? new Set()
    set.add(client)
    this.#byUser.set(client.userId, set)
    this.#records.set(client, new Set())
  }

  remove(client: LiveClient): void {
    this.#byUser.get(client.userId)?.delete(client)
    if (this.#byUser.get(client.userId)?.size === 0) this.#byUser.delete(client.userId)
    for (const recordId of this.#records.get(client) ?? []) this.unsubscribe(client, recordId)
    this.#records.delete(client)
  }

  subscribe(client: LiveClient, recordId: number): void {
    const set = this.#byRecord.get(recordId) ?? new Set()
    set.add(client)
    this.#byRecord.set(recordId, set)
    this.#records.get(client)?.add(recordId)
  }

  unsubscribe(client: LiveClient, recordId: number): void {
    this.#byRecord.get(recordId)?.delete(client)
    if (this.#byRecord.get(recordId)?.size === 0) this.#byRecord.delete(recordId)
    this.#records.get(client)?.delete(recordId)
  }

  /** Drops everyone's subscription to a record that no longer exists. */
  forgetRecord(recordId: number): void {
    for (const client of this.#byRecord.get(recordId) ?? []) this.#records.get(client)?.delete(recordId)
    this.#byRecord.delete(recordId)
  }

  /** Sends each distinct event once per client. */
  publish(effects: Effects): void {
    if (this.#byUser.size === 0 || effects.events.length === 0) return
    const round = ++this.#round
    const seen = new Set<string>()
    const frames = new Map<LiveClient, string[]>()
    for (const event of effects.events) {
      const text = JSON.stringify({ type: 'event', event })
      if (seen.has(text)) continue
      seen.add(text)
      for (const client of [...this.#audience(event)])
        if (client.mayHear?.(event, round) ?? true) {
          const texts = frames.get(client)
          if (texts) texts.push(text)
          else frames.set(client, [text])
        }
    }
    for (const [client, texts] of frames) client.send(...texts)
  }

  #audience(event: LiveEvent): Iterable<LiveClient> {
    if (event.scope === 'user') return this.#byUser.get(event.userId) ?? []
    return this.#byRecord.get(event.recordId) ?? []
  }

  get clientCount(): number {
    return this.#records.size
  }
}
