import type { EnvelopeRow } from './repository.ts'

/** What a sender may know of its envelope on the relay: metadata only. */
export function presentEnvelopeStatus(row: EnvelopeRow) {
  return {
    id: row.id,
    to: row.recipient,
    connectionId: row.connectionId,
    seq: row.seq,
    size: row.size,
    status: row.status,
    acceptedAt: row.acceptedAt,
    ...(row.deliveredAt ? { deliveredAt: row.deliveredAt } : {}),
    ...(row.readAt ? { readAt: row.readAt } : {}),
    ...(row.failedAt ? { failedAt: row.failedAt } : {}),
    ...(row.reason ? { reason: row.reason } : {}),
  }
}
