import {
  fromBase64Url,
  type ReceiptRefusalCode,
  type ReceiptResult,
  reject,
  type SignedReceipt,
  verifyReceipt,
} from '@ochat/shared-protocol'
import { sql } from 'drizzle-orm'
import { type Executor, rows, type Tx } from '../db/client.ts'
import type { InstanceRow } from '../instances/repository.ts'
import { type ClaimedItem, deleteItemsOf } from './queue-repository.ts'

/** One receipt's result: a refusal has a stable code and a reason (PROTOCOL.md §5.1). */
export type ReceiptOutcome = ReceiptResult

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
 * Delivered and Read receipts (PROTOCOL.md §5.1), from any number of recipients in one
 * statement, `ochat_accept_receipts` (drizzle/0003_accept_receipts.sql). Each receipt is checked (it
 * is from its batch's instance, signed by its key, about envelopes the named sender sent to it, over an
 * accepted connection), then forwarded to the sender through the same durable queue. A Delivered
 * receipt is what deletes the ciphertext. Returns, per batch, one outcome per receipt and the envelopes
 * that became delivered. On its own (not in a transaction) the statement commits by itself.
 */
export async function acceptReceiptBatches(
  executor: Executor,
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
    batch.receipts.flatMap((receipt, r) => (signed[b]?.[r]?.ok ? [{ batch, receipt, b, r }] : [])),
  )
  const settled = props.settled ?? []
  const refusals = new Map<string, string | null>()
  const deliveredTo = new Map<string, Set<string>>()
  // Nothing to check or forward (a sender acknowledging the receipts it was handed): the statement
  // would only delete the settled items, and planning it costs PostgreSQL more than that delete.
  if (wanted.length === 0 && settled.length > 0) await deleteItemsOf(executor, settled)
  else if (wanted.length > 0 || settled.length > 0) {
    const handOff = props.handOff
    const receiptsJson = JSON.stringify(
      wanted.map(({ batch, receipt }, index) => ({
        r: index,
        id: receipt.receipt.id,
        kind: receipt.receipt.kind,
        recipient: batch.recipient.id,
        sender: receipt.receipt.to,
        envelope_ids: receipt.receipt.envelopeIds,
        body: JSON.stringify({ type: 'receipt', id: receipt.receipt.id, receipt }),
        direct: handOff?.destinations.has(receipt.receipt.to) ?? false,
      })),
    )
    const settledJson = JSON.stringify(
      settled.map((item) => ({ destination: item.destination, item_id: item.itemId })),
    )
    const found = await rows<{
      o_what: string
      o_r: number | null
      o_id: string | null
      o_detail: string | null
      o_qid: string | number | null
      o_destination: string | null
      o_body: string | null
      o_attempts: number | null
      o_deadline_at: string | number | null
      o_connection_id: string | null
    }>(
      executor,
      sql`select * from ochat_accept_receipts(${receiptsJson}::json, ${settledJson}::json, ${handOff?.replicaId ?? ''}::text,
            ${handOff?.claimedUntil ?? 0}::bigint, ${props.nowMs}::bigint, ${props.deadlineMs}::bigint)`,
    )
    for (const row of found) {
      if (row.o_what === 'outcome' && row.o_r !== null) {
        const entry = wanted[row.o_r]
        if (entry) refusals.set(`${entry.b}:${entry.r}`, row.o_detail)
      } else if (row.o_what === 'delivered' && row.o_id && row.o_destination) {
        const ids = deliveredTo.get(row.o_destination) ?? new Set<string>()
        ids.add(row.o_id)
        deliveredTo.set(row.o_destination, ids)
      } else if (row.o_what === 'claimed' && handOff && row.o_destination && row.o_id) {
        const list = handOff.claimed.get(row.o_destination) ?? []
        list.push({
          qid: Number(row.o_qid),
          itemId: row.o_id,
          kind: 'receipt',
          body: row.o_body ?? '',
          attempts: row.o_attempts ?? 1,
          deadlineAt: Number(row.o_deadline_at),
          connectionId: row.o_connection_id,
        })
        handOff.claimed.set(row.o_destination, list)
      }
    }
    for (const list of handOff?.claimed.values() ?? []) list.sort((a, b) => a.qid - b.qid)
  }

  return props.batches.map((batch, b) => ({
    outcomes: batch.receipts.map((signedReceipt, r): ReceiptOutcome => {
      const { receipt } = signedReceipt
      const refused = (refusal: { code: ReceiptRefusalCode; reason: string }): ReceiptOutcome => ({
        id: receipt.id,
        ok: false,
        code: refusal.code,
        reason: refusal.reason,
      })
      const verified = signed[b]?.[r]
      if (!verified?.ok)
        return refused(verified ?? reject('E_RECEIPT_BAD_SIGNATURE', 'invalid', 'receipt signature'))
      const refusal = refusals.get(`${b}:${r}`)
      if (refusal === undefined)
        return refused(reject('E_INTERNAL', 'error', 'receipt not checked; send it again'))
      if (refusal === null) return { id: receipt.id, ok: true }
      if (refusal === 'blocked')
        return refused(
          reject('E_CONNECTION_NOT_ACCEPTED', 'blocked', `no accepted connection with ${receipt.to}`),
        )
      return refused(
        reject(
          'E_RECEIPT_UNKNOWN_ENVELOPE',
          'invalid',
          `envelope ${refusal.slice('foreign:'.length)} was not sent to you by ${receipt.to}`,
        ),
      )
    }),
    delivered: [...(deliveredTo.get(batch.recipient.id) ?? [])],
  }))
}
