import { fromBase64Url, reason, type SignedReceipt, verifyReceipt } from '@ochat/shared-protocol'
import { acceptedPairs, pairKey } from '../connections/repository.ts'
import type { Tx } from '../db/client.ts'
import { findEnvelopes, markDelivered, markRead } from '../envelopes/repository.ts'
import type { InstanceRow } from '../instances/repository.ts'
import {
  type ClaimedItem,
  deleteItemsOf,
  insertClaimedItems,
  insertQueueItems,
  type QueueInsert,
  wake,
} from './queue-repository.ts'

export type ReceiptOutcome = { id: string; ok: true } | { id: string; ok: false; reason: string }

/** Receipts sent by one instance: the recipient of the envelopes, and the receipts' signer. */
export type ReceiptBatch = { recipient: InstanceRow; receipts: SignedReceipt[] }

export type AcceptReceiptsProps = ReceiptBatch & { tx: Tx; nowMs: number; deadlineMs: number }

/**
 * Senders whose socket is on this replica, with room reserved in its window: their receipts go into the
 * queue already claimed by this replica, and `claimed` receives them, by sender, to be sent as soon as
 * the transaction commits (no wake-up, no second claim). They stay queued until the sender acks them.
 */
export type HandOff = {
  destinations: ReadonlySet<string>
  replicaId: string
  claimedUntil: number
  /** Filled with the rows inserted for `destinations`, by destination. */
  claimed: Map<string, ClaimedItem[]>
}

/** Receipts from one recipient (see acceptReceiptBatches). */
export async function acceptReceipts(
  props: AcceptReceiptsProps,
): Promise<{ outcomes: ReceiptOutcome[]; delivered: string[] }> {
  const [result] = await acceptReceiptBatches(props.tx, {
    batches: [props],
    nowMs: props.nowMs,
    deadlineMs: props.deadlineMs,
  })
  return result ?? { outcomes: [], delivered: [] }
}

/**
 * Delivered and Read receipts (PROTOCOL.md §5.1, invariant 6), from any number of recipients in one
 * transaction and a fixed number of statements. Each receipt is checked (it is from its batch's
 * instance, signed by its key, about envelopes the named sender sent to it), then forwarded to the
 * sender through the same durable queue. A Delivered receipt is what deletes the ciphertext. Returns,
 * per batch, one outcome per receipt and the envelopes that became delivered.
 */
export async function acceptReceiptBatches(
  tx: Tx,
  props: {
    batches: ReceiptBatch[]
    nowMs: number
    deadlineMs: number
    /** Queue items to delete with the ciphertext: what the caller settled. */
    settled?: { destination: string; itemId: string }[]
    handOff?: HandOff
  },
): Promise<{ outcomes: ReceiptOutcome[]; delivered: string[] }[]> {
  // Signatures first: an unsigned receipt costs no query.
  const signed = props.batches.map((batch) => {
    const identityKey = fromBase64Url(batch.recipient.identityKey)
    return batch.receipts.map((receipt) =>
      identityKey
        ? verifyReceipt(receipt, {
            from: batch.recipient.id,
            to: receipt.receipt.to,
            signerIdentityKey: identityKey,
          })
        : undefined,
    )
  })
  const wanted = props.batches.flatMap((batch, b) =>
    batch.receipts.filter((_, r) => signed[b]?.[r]?.ok).map((receipt) => ({ batch, receipt })),
  )
  const pairs = new Map(
    wanted.map(({ batch, receipt }) => [
      pairKey(batch.recipient.id, receipt.receipt.to),
      { a: batch.recipient.id, b: receipt.receipt.to },
    ]),
  )
  // Both reads in one round trip (postgres.js pipelines statements of one transaction).
  const [found, connected] = await Promise.all([
    findEnvelopes(
      tx,
      wanted.flatMap(({ receipt }) => receipt.receipt.envelopeIds),
    ),
    // Invariant 7: nothing flows without an accepted connection, receipts included.
    acceptedPairs(tx, [...pairs.values()]),
  ])
  const known = new Map(found.map((row) => [row.id, row]))

  const forward: QueueInsert[] = []
  const delivered: { id: string; recipient: string }[] = []
  const read: { id: string; recipient: string }[] = []
  const outcomes = props.batches.map((batch, b) =>
    batch.receipts.map((signedReceipt, r): ReceiptOutcome => {
      const { receipt } = signedReceipt
      const recipient = batch.recipient.id
      const verified = signed[b]?.[r]
      if (!verified?.ok)
        return {
          id: receipt.id,
          ok: false,
          reason: verified?.reason ?? reason('invalid', 'receipt signature'),
        }
      if (!connected.has(pairKey(recipient, receipt.to)))
        return {
          id: receipt.id,
          ok: false,
          reason: reason('blocked', `no accepted connection with ${receipt.to}`),
        }
      const foreign = receipt.envelopeIds.find((id) => {
        const row = known.get(id)
        return !row || row.recipient !== recipient || row.sender !== receipt.to
      })
      // Same answer for an unknown id and someone else's: nothing about other envelopes leaks.
      if (foreign)
        return {
          id: receipt.id,
          ok: false,
          reason: reason('invalid', `envelope ${foreign} was not sent to you by ${receipt.to}`),
        }
      const items = receipt.envelopeIds.map((id) => ({ id, recipient }))
      if (receipt.kind === 'delivered') delivered.push(...items)
      else read.push(...items)
      forward.push({
        destination: receipt.to,
        itemId: receipt.id,
        kind: 'receipt',
        connectionId: null,
        body: JSON.stringify({ type: 'receipt', id: receipt.id, receipt: signedReceipt }),
        createdAt: props.nowMs,
        deadlineAt: props.nowMs + props.deadlineMs,
        nextAttemptAt: props.nowMs,
      })
      return { id: receipt.id, ok: true }
    }),
  )

  const handOff = props.handOff
  const direct = handOff ? forward.filter((item) => handOff.destinations.has(item.destination)) : []
  const queued = handOff ? forward.filter((item) => !handOff.destinations.has(item.destination)) : forward
  // The writes are independent: one round trip. The ciphertext goes as soon as the recipient holds it
  // (DESIGN.md retention), with the items the caller settled.
  const [marked, , , , claimed] = await Promise.all([
    markDelivered(tx, { items: delivered, nowMs: props.nowMs }),
    deleteItemsOf(tx, [
      ...delivered.map((item) => ({ destination: item.recipient, itemId: item.id })),
      ...(props.settled ?? []),
    ]),
    markRead(tx, { items: read, nowMs: props.nowMs }),
    insertQueueItems(tx, queued),
    handOff
      ? insertClaimedItems(tx, {
          items: direct,
          replicaId: handOff.replicaId,
          claimedUntil: handOff.claimedUntil,
        })
      : undefined,
    wake(
      tx,
      queued.map((item) => item.destination),
    ),
  ])
  if (handOff && claimed) for (const [destination, items] of claimed) handOff.claimed.set(destination, items)
  const newly = new Set(marked.map((row) => row.id))
  const deliveredTo = new Map<string, Set<string>>()
  for (const item of delivered) {
    if (!newly.has(item.id)) continue
    const ids = deliveredTo.get(item.recipient) ?? new Set<string>()
    ids.add(item.id)
    deliveredTo.set(item.recipient, ids)
  }
  return props.batches.map((batch, b) => ({
    outcomes: outcomes[b] ?? [],
    delivered: [...(deliveredTo.get(batch.recipient.id) ?? [])],
  }))
}
