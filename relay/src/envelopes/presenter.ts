import type { EnvelopeRelayStatus, EnvelopeStatusResponse } from '@ochat/shared-protocol'
import type { EnvelopeRow } from './repository.ts'

/** What a sender may know of its envelope on the relay: metadata only. */
export function presentEnvelopeStatus(row: EnvelopeRow): EnvelopeStatusResponse['envelope'] {
  return {
    id: row.id,
    to: row.recipient,
    connectionId: row.connectionId,
    seq: row.seq,
    size: row.size,
    // The column holds only these values (db/schema.ts); EnvelopeStatusResponseSchema checks it on the way out.
    status: row.status as EnvelopeRelayStatus,
    acceptedAt: row.acceptedAt,
    ...(row.deliveredAt ? { deliveredAt: row.deliveredAt } : {}),
    ...(row.readAt ? { readAt: row.readAt } : {}),
    ...(row.failedAt ? { failedAt: row.failedAt } : {}),
    ...(row.reason ? { reason: row.reason } : {}),
  }
}
