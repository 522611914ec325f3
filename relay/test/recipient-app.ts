import type { RelayFrame } from '@ochat/shared-protocol'
import type { TestNode, TestRelay } from './helpers.ts'
import { deliveredReceipts } from './receipts.ts'
import { openSocket } from './ws-client.ts'

/**
 * The receiving side as a node runs it: it stores each envelope once (dropping duplicates by sender and
 * id, PROTOCOL.md §6.2), then acknowledges with a signed Delivered receipt. `stored` counts what the
 * application got; `offered` counts what the relay sent, duplicates included.
 */
export function recipientApp(node: TestNode) {
  const stored = new Map<string, number>()
  let offered = 0
  let socket: Awaited<ReturnType<typeof openSocket>> | undefined

  function handle(frame: Extract<RelayFrame, { type: 'deliver' }>) {
    const envelopes = frame.items.filter((item) => item.type === 'envelope')
    offered += envelopes.length
    for (const item of envelopes) {
      const key = `${item.envelope.header.from}/${item.id}`
      if (!stored.has(key)) stored.set(key, 1)
    }
    const receipts = deliveredReceipts(node, envelopes, Date.now())
    socket?.send({ type: 'ack', results: frame.items.map((item) => ({ ok: true, id: item.id })), receipts })
  }

  return {
    node,
    stored,
    get offered() {
      return offered
    },
    async connect(relay: Pick<TestRelay, 'baseUrl' | 'clock'>) {
      socket = await openSocket(relay, node, { onDeliver: handle })
      return socket
    },
    close: () => socket?.close(),
  }
}
