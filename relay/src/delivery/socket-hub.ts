import type { SocketSession } from './socket-session.ts'

/** The node sockets this replica holds, by instance id: at most one per instance. */
export class SocketHub {
  readonly #sessions = new Map<string, SocketSession>()
  /** Sessions being shut down after their socket closed; closeAll waits for them too. */
  readonly #closing = new Set<Promise<void>>()
  #shuttingDown = false
  /** The newest lease generation announced for each instance (one number per instance seen). */
  readonly #newestLease = new Map<string, number>()

  /** Adds a session; an older one for the same instance is closed first ("connected elsewhere"). */
  async add(session: SocketSession): Promise<void> {
    // During shutdown, a socket that authenticates late is closed at once instead of being kept.
    if (this.#shuttingDown) return session.shutdown(1012, 'relay shutting down')
    // A newer lease was taken while this one was (here or on another replica): the node is connected
    // elsewhere, or again.
    const previous = this.#sessions.get(session.instance.id)
    const newest = Math.max(this.#newestLease.get(session.instance.id) ?? 0, previous?.leaseGeneration ?? 0)
    if (newest > session.leaseGeneration) return session.shutdown(4409, 'connected elsewhere')
    this.#sessions.set(session.instance.id, session)
    if (previous && previous !== session) await previous.shutdown(4409, 'connected elsewhere')
  }

  async remove(session: SocketSession): Promise<void> {
    if (this.#sessions.get(session.instance.id) === session) this.#sessions.delete(session.instance.id)
    const closing = session.shutdown()
    this.#closing.add(closing)
    try {
      await closing
    } finally {
      this.#closing.delete(closing)
    }
  }

  get(instanceId: string): SocketSession | undefined {
    return this.#sessions.get(instanceId)
  }

  get size(): number {
    return this.#sessions.size
  }

  instanceIds(): string[] {
    return [...this.#sessions.keys()]
  }

  /**
   * A wake-up: push what is queued for these instances, if their socket is here. Resolves once those
   * pushes are written (callers on the hot path do not wait).
   */
  async wake(instanceIds: Iterable<string>, onError: (error: unknown) => void): Promise<void> {
    const drains: Promise<void>[] = []
    for (const id of instanceIds) {
      const drained = this.#sessions.get(id)?.drain().catch(onError)
      if (drained) drains.push(drained)
    }
    await Promise.all(drains)
  }

  /**
   * A replica took an instance's lease. A socket here on an older lease closes ("connected elsewhere");
   * one on the same or a newer lease stays: a notice can arrive after a newer connect.
   */
  async evict(notice: { instanceId: string; generation: number }): Promise<void> {
    const seen = this.#newestLease.get(notice.instanceId) ?? 0
    if (notice.generation > seen && Number.isFinite(notice.generation))
      this.#newestLease.set(notice.instanceId, notice.generation)
    const session = this.#sessions.get(notice.instanceId)
    if (!session || session.leaseGeneration >= notice.generation) return
    this.#sessions.delete(notice.instanceId)
    await session.shutdown(4409, 'connected elsewhere')
  }

  /** Closes an instance's socket here, if any: it must authenticate again (suspension, new keys). */
  async kick(instanceId: string, code: number, why: string): Promise<void> {
    const session = this.#sessions.get(instanceId)
    if (!session) return
    this.#sessions.delete(instanceId)
    await session.shutdown(code, why)
  }

  async closeAll(code: number, why: string): Promise<void> {
    this.#shuttingDown = true
    const sessions = [...this.#sessions.values()]
    this.#sessions.clear()
    await Promise.all(sessions.map((session) => session.shutdown(code, why)))
    await Promise.allSettled([...this.#closing])
  }
}
