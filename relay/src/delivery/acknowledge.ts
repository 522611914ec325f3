import { type ItemResult, reasonPrefix, type SignedReceipt } from '@ochat/shared-protocol'
import type { Db } from '../db/client.ts'
import { findEnvelopes, markFailed } from '../envelopes/repository.ts'
import type { InstanceRow } from '../instances/repository.ts'
import { acceptReceipts, type ReceiptOutcome } from './accept-receipts.ts'
import { type ClaimedItem, deleteItems, releaseItems, reportFailures } from './queue-repository.ts'

/** After a non-permanent refusal on the socket, the item is offered again after 5 s. */
const SOCKET_RETRY_MS = 5_000

export type AcknowledgeProps = {
  db: Db
  recipient: InstanceRow
  results: ItemResult[]
  /** Delivered receipts sent with the ack. */
  receipts: SignedReceipt[]
  /** What was sent on this socket and not yet settled, by item id. */
  inflight: ReadonlyMap<string, ClaimedItem>
  nowMs: number
  deadlineMs: number
}

/**
 * Settles what a node acknowledged (PROTOCOL.md §6.2). Receipts and status items are done once
 * acknowledged; an envelope is done only through a signed Delivered receipt (here or later). An
 * envelope refused with `invalid:` (bad signature, undecryptable) fails now and its sender is told;
 * any other refusal is retried.
 */
export async function acknowledge(
  props: AcknowledgeProps,
): Promise<{ settled: string[]; delivered: string[]; receipts: ReceiptOutcome[] }> {
  return props.db.transaction(async (tx) => {
    const { outcomes, delivered } = await acceptReceipts({
      tx,
      recipient: props.recipient,
      receipts: props.receipts,
      nowMs: props.nowMs,
      deadlineMs: props.deadlineMs,
    })
    const done: string[] = []
    const refused: { id: string; reason: string }[] = []
    const retry: string[] = []
    for (const result of props.results) {
      const item = props.inflight.get(result.id)
      if (!item) continue
      if (result.ok) {
        // An envelope stored but not yet receipted stays claimed in the queue until its receipt comes
        // (by any path); it leaves this socket's window now either way.
        if (item.kind !== 'envelope') done.push(result.id)
        continue
      }
      if (reasonPrefix(result.reason) === 'invalid') refused.push({ id: result.id, reason: result.reason })
      else retry.push(result.id)
    }
    await deleteItems(tx, props.recipient.id, done)
    if (refused.length > 0) {
      const envelopeIds = refused
        .filter((entry) => props.inflight.get(entry.id)?.kind === 'envelope')
        .map((entry) => entry.id)
      const refusedReasons = new Map(
        refused.map((entry) => [entry.id, entry.reason.slice('invalid: '.length)]),
      )
      const failures = []
      for (const envelope of await findEnvelopes(tx, envelopeIds)) {
        const reason = `invalid: the recipient refused it: ${refusedReasons.get(envelope.id) ?? ''}`.slice(
          0,
          500,
        )
        const [failed] = await markFailed(tx, { ids: [envelope.id], nowMs: props.nowMs, reason })
        if (failed) failures.push({ ...failed, reason })
      }
      await deleteItems(
        tx,
        props.recipient.id,
        refused.map((entry) => entry.id),
      )
      await reportFailures(tx, { failures, nowMs: props.nowMs, deadlineMs: props.deadlineMs })
    }
    await releaseItems(tx, {
      destination: props.recipient.id,
      itemIds: retry,
      nextAttemptAt: props.nowMs + SOCKET_RETRY_MS,
      lastError: 'refused by the recipient',
    })
    const settled = props.results.map((result) => result.id)
    return { settled: [...new Set([...settled, ...delivered])], delivered, receipts: outcomes }
  })
}
