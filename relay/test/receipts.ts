import { type DeliveryItem, newId, type SignedReceipt, signReceipt } from '@ochat/shared-protocol'

/**
 * What a node sends back for delivered items once it has stored them: one signed Delivered receipt per
 * sender, naming that sender's envelopes (PROTOCOL.md §5.1). Shared by the tests and the benchmarks.
 */
export function deliveredReceipts(
  node: { instanceId: string; identity: { secretKey: Uint8Array } },
  items: readonly DeliveryItem[],
  nowMs: number,
): SignedReceipt[] {
  const bySender = new Map<string, string[]>()
  for (const item of items) {
    if (item.type !== 'envelope') continue
    const sender = item.envelope.header.from
    bySender.set(sender, [...(bySender.get(sender) ?? []), item.id])
  }
  return [...bySender].map(([to, envelopeIds]) =>
    signReceipt(
      { v: 1, id: newId(nowMs), kind: 'delivered', from: node.instanceId, to, envelopeIds, at: nowMs },
      node.identity.secretKey,
    ),
  )
}
