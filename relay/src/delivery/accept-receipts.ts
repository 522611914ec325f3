import { fromBase64Url, reason, type SignedReceipt, verifyReceipt } from '@ochat/shared-protocol'
import { findLiveConnectionBetween } from '../connections/repository.ts'
import type { Tx } from '../db/client.ts'
import { findEnvelopes, markDelivered, markRead } from '../envelopes/repository.ts'
import type { InstanceRow } from '../instances/repository.ts'
import { deleteItems, insertQueueItems, type QueueInsert, wake } from './queue-repository.ts'

export type AcceptReceiptsProps = {
  tx: Tx
  /** The authenticated instance: the recipient of the envelopes, and the receipts' signer. */
  recipient: InstanceRow
  receipts: SignedReceipt[]
  nowMs: number
  deadlineMs: number
}

export type ReceiptOutcome = { id: string; ok: true } | { id: string; ok: false; reason: string }

/**
 * Delivered and Read receipts from a recipient (PROTOCOL.md §5.1, invariant 6). Each is checked (it is
 * from this instance, signed by its key, about envelopes the named sender sent to it), then forwarded to
 * the sender through the same durable queue. A Delivered receipt is what deletes the ciphertext.
 */
export async function acceptReceipts(
  props: AcceptReceiptsProps,
): Promise<{ outcomes: ReceiptOutcome[]; delivered: string[] }> {
  const identityKey = fromBase64Url(props.recipient.identityKey)
  const ids = props.receipts.flatMap((signed) => signed.receipt.envelopeIds)
  const known = new Map((await findEnvelopes(props.tx, ids)).map((row) => [row.id, row]))
  const outcomes: ReceiptOutcome[] = []
  const accepted = new Map<string, boolean>()
  const connected = async (peer: string) => {
    const known = accepted.get(peer)
    if (known !== undefined) return known
    const live = await findLiveConnectionBetween(props.tx, props.recipient.id, peer)
    const ok = live?.state === 'accepted'
    accepted.set(peer, ok)
    return ok
  }
  const forward: QueueInsert[] = []
  const deliveredIds: string[] = []
  const readIds: string[] = []
  for (const signed of props.receipts) {
    const { receipt } = signed
    const verified = identityKey
      ? verifyReceipt(signed, { from: props.recipient.id, to: receipt.to, signerIdentityKey: identityKey })
      : undefined
    if (!verified?.ok) {
      outcomes.push({
        id: receipt.id,
        ok: false,
        reason: verified?.reason ?? reason('invalid', 'receipt signature'),
      })
      continue
    }
    // Invariant 7: nothing flows without an accepted connection, receipts included.
    if (!(await connected(receipt.to))) {
      outcomes.push({
        id: receipt.id,
        ok: false,
        reason: reason('blocked', `no accepted connection with ${receipt.to}`),
      })
      continue
    }
    const foreign = receipt.envelopeIds.find((id) => {
      const row = known.get(id)
      return !row || row.recipient !== props.recipient.id || row.sender !== receipt.to
    })
    if (foreign) {
      // Same answer for an unknown id and someone else's: nothing about other envelopes leaks.
      outcomes.push({
        id: receipt.id,
        ok: false,
        reason: reason('invalid', `envelope ${foreign} was not sent to you by ${receipt.to}`),
      })
      continue
    }
    // Statements are gathered for the whole batch below: one per kind, not one per receipt.
    if (receipt.kind === 'delivered') deliveredIds.push(...receipt.envelopeIds)
    else readIds.push(...receipt.envelopeIds)
    forward.push({
      destination: receipt.to,
      itemId: receipt.id,
      kind: 'receipt',
      connectionId: null,
      body: JSON.stringify({ type: 'receipt', id: receipt.id, receipt: signed }),
      createdAt: props.nowMs,
      deadlineAt: props.nowMs + props.deadlineMs,
      nextAttemptAt: props.nowMs,
    })
    outcomes.push({ id: receipt.id, ok: true })
  }
  // Every id here was checked above: sent to this recipient by the receipt's addressee.
  const change = { recipient: props.recipient.id, nowMs: props.nowMs }
  const delivered = (await markDelivered(props.tx, { ...change, ids: deliveredIds })).map((row) => row.id)
  // The ciphertext goes as soon as the recipient holds it (DESIGN.md retention).
  await deleteItems(props.tx, props.recipient.id, deliveredIds)
  await markRead(props.tx, { ...change, ids: readIds })
  await insertQueueItems(props.tx, forward)
  await wake(
    props.tx,
    forward.map((item) => item.destination),
  )
  return { outcomes, delivered }
}
