import { type ItemResult, reasonPrefix, type SignedReceipt } from '@ochat/shared-protocol'
import type { Db, Executor } from '../db/client.ts'
import { findEnvelopes, markFailed } from '../envelopes/repository.ts'
import type { InstanceRow } from '../instances/repository.ts'
import { acceptReceiptBatches, type HandOff, type ReceiptOutcome } from './accept-receipts.ts'
import { type ClaimedItem, deleteItemsOf, releaseItems, reportFailures } from './queue-repository.ts'

/** After a non-permanent refusal on the socket, the item is offered again after 5 s. */
const SOCKET_RETRY_MS = 5_000

/** One instance's acknowledgement of items it was sent. */
export type Acknowledgement = {
  recipient: InstanceRow
  results: ItemResult[]
  /** Delivered receipts sent with the ack. */
  receipts: SignedReceipt[]
  /** What was sent and not yet settled, by item id. */
  inflight: ReadonlyMap<string, ClaimedItem>
}

export type AcknowledgeResult = { settled: string[]; delivered: string[]; receipts: ReceiptOutcome[] }

/** One acknowledgement in its own transaction (see acknowledgeAll). */
export async function acknowledge(
  props: Acknowledgement & { db: Db; nowMs: number; deadlineMs: number },
): Promise<AcknowledgeResult> {
  const [result] = await props.db.transaction((tx) => acknowledgeAll(tx, { ...props, acks: [props] }))
  return result ?? { settled: [], delivered: [], receipts: [] }
}

/** Whether settling these acks writes more than the one receipts statement (a refusal or a retry). */
export function needsTransaction(acks: Acknowledgement[]): boolean {
  return acks.some((ack) => ack.results.some((result) => !result.ok && ack.inflight.has(result.id)))
}

/**
 * Settles what nodes acknowledged (PROTOCOL.md §6.2), for any number of them in one transaction (or,
 * when `needsTransaction` is false, in the one statement of acceptReceiptBatches, which commits alone).
 * Receipts and status items are done once acknowledged; an envelope is done only through a signed
 * Delivered receipt (here or later). An envelope refused with `invalid:` (bad signature, undecryptable)
 * fails now and its sender is told; any other refusal is retried.
 */
export async function acknowledgeAll(
  tx: Executor,
  props: { acks: Acknowledgement[]; nowMs: number; deadlineMs: number; handOff?: HandOff },
): Promise<AcknowledgeResult[]> {
  const done: { destination: string; itemId: string }[] = []
  const sorted = props.acks.map((ack) => {
    const refused: { id: string; reason: string }[] = []
    const retry: string[] = []
    for (const result of ack.results) {
      const item = ack.inflight.get(result.id)
      if (!item) continue
      if (result.ok) {
        // An envelope stored but not yet receipted stays claimed in the queue until its receipt comes
        // (by any path); it leaves the sender's window now either way.
        if (item.kind !== 'envelope') done.push({ destination: ack.recipient.id, itemId: result.id })
        continue
      }
      if (reasonPrefix(result.reason) === 'invalid') refused.push({ id: result.id, reason: result.reason })
      else retry.push(result.id)
    }
    return { ack, refused, retry }
  })
  const accepted = await acceptReceiptBatches(tx, {
    batches: props.acks,
    nowMs: props.nowMs,
    deadlineMs: props.deadlineMs,
    settled: done,
    ...(props.handOff ? { handOff: props.handOff } : {}),
  })
  // Refusals are rare: handled one acknowledgement at a time.
  for (const { ack, refused, retry } of sorted) {
    if (refused.length > 0) await failRefused(tx, { ...props, ack, refused })
    await releaseItems(tx, {
      destination: ack.recipient.id,
      itemIds: retry,
      nextAttemptAt: props.nowMs + SOCKET_RETRY_MS,
      lastError: 'refused by the recipient',
    })
  }
  return props.acks.map((ack, index) => {
    const { outcomes, delivered } = accepted[index] ?? { outcomes: [], delivered: [] }
    const settled = ack.results.map((result) => result.id)
    return { settled: [...new Set([...settled, ...delivered])], delivered, receipts: outcomes }
  })
}

/** Envelopes the recipient refused as `invalid:` fail now, and their senders are told why. */
async function failRefused(
  tx: Executor,
  props: {
    ack: Acknowledgement
    refused: { id: string; reason: string }[]
    nowMs: number
    deadlineMs: number
  },
): Promise<void> {
  const { ack, refused } = props
  const envelopeIds = refused
    .filter((entry) => ack.inflight.get(entry.id)?.kind === 'envelope')
    .map((entry) => entry.id)
  const refusedReasons = new Map(refused.map((entry) => [entry.id, entry.reason.slice('invalid: '.length)]))
  const failures = []
  for (const envelope of await findEnvelopes(tx, envelopeIds)) {
    const reason = `invalid: the recipient refused it: ${refusedReasons.get(envelope.id) ?? ''}`.slice(0, 500)
    const [failed] = await markFailed(tx, { ids: [envelope.id], nowMs: props.nowMs, reason })
    if (failed) failures.push({ ...failed, reason })
  }
  await deleteItemsOf(
    tx,
    refused.map((entry) => ({ destination: ack.recipient.id, itemId: entry.id })),
  )
  await reportFailures(tx, { failures, nowMs: props.nowMs, deadlineMs: props.deadlineMs })
}
