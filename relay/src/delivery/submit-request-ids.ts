/**
 * Which request submitted an envelope, by envelope id, so that the webhook POST delivering it carries
 * that request's id (`X-Request-Id`) and the node's log line of the receipt can be found from the
 * relay's log of the submit. Only ids are kept: never a body, a key or a signature.
 *
 * Kept in this replica's memory, the most recent MAX_ENTRIES: an envelope submitted through another
 * replica, or before a restart, is delivered with the webhook call's own id instead. It is a tracing
 * aid, so losing some is fine; storing it would cost a column on every queued row.
 */
export class SubmitRequestIds {
  /** Insertion order is eviction order (a Map iterates oldest first). */
  readonly #byEnvelope = new Map<string, string>()

  /** Envelope ids are 36 characters, request ids at most 128: about 20 MB at the limit. */
  static readonly MAX_ENTRIES = 100_000

  /**
   * Called before the write, so the id is there however soon a webhook worker picks the envelope up.
   * A resubmitted envelope keeps its first request's id: that one stored it.
   */
  remember(envelopeIds: string[], requestId: string): void {
    for (const id of envelopeIds) {
      if (this.#byEnvelope.has(id)) continue
      this.#byEnvelope.set(id, requestId)
      if (this.#byEnvelope.size > SubmitRequestIds.MAX_ENTRIES) {
        const oldest = this.#byEnvelope.keys().next()
        if (!oldest.done) this.#byEnvelope.delete(oldest.value)
      }
    }
  }

  /** The submit requests of these items (receipts and status events have none), first seen first. */
  of(itemIds: string[]): string[] {
    const ids = itemIds.map((id) => this.#byEnvelope.get(id)).filter((id): id is string => id !== undefined)
    return [...new Set(ids)]
  }
}
