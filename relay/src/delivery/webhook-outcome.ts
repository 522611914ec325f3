// When to try again is the protocol's schedule, shared with the nodes: RETRY_SCHEDULE and retryDelayMs
// in @ochat/shared-protocol. What a webhook answer means for it is decided here.

export type WebhookOutcome =
  | { kind: 'delivered' }
  /** 410: the endpoint is gone; stop using it until the node registers a new one or connects. */
  | { kind: 'gone'; reason: string }
  /** Any other 4xx (and 3xx): the node refuses these bytes; retrying cannot help. */
  | { kind: 'permanent'; reason: string }
  /** 5xx, timeouts, network errors, 429: try again later, not before `retryAfterMs` if the node said so. */
  | { kind: 'retry'; reason: string; retryAfterMs?: number }

/** Classifies a webhook answer (PROTOCOL.md §7: 2xx delivered, 410 gone, 429/502/503/504 retry). */
export function classifyResponse(
  status: number,
  retryAfter: string | undefined,
  nowMs: number,
): WebhookOutcome {
  if (status >= 200 && status < 300) return { kind: 'delivered' }
  if (status === 410) return { kind: 'gone', reason: "error: the recipient's webhook answered 410 Gone" }
  if ([429, 502, 503, 504].includes(status)) {
    const retryAfterMs = parseRetryAfter(retryAfter, nowMs)
    return {
      kind: 'retry',
      reason: `error: the recipient's webhook answered ${status}`,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    }
  }
  if (status >= 500) return { kind: 'retry', reason: `error: the recipient's webhook answered ${status}` }
  return { kind: 'permanent', reason: `invalid: the recipient's webhook refused the delivery with ${status}` }
}

/** Retry-After is seconds or an HTTP date (RFC 9110 §10.2.3); capped at 24 h. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (!value) return undefined
  const seconds = /^\d+$/.test(value.trim()) ? Number(value.trim()) * 1000 : Date.parse(value) - nowMs
  if (!Number.isFinite(seconds) || seconds < 0) return undefined
  return Math.min(seconds, 24 * 3_600_000)
}
