import { newId, type RelayFrame, signSocketAuth } from '@ochat/shared-protocol'
import WebSocket from 'ws'
import { deliveredReceipts } from '../test/receipts.ts'
import type { BenchNode } from './harness.ts'

/**
 * A node's socket for benchmarks: authenticates, acknowledges deliveries as a node would (with a signed
 * Delivered receipt per sender) and calls back on submit results and on receipts.
 */
export async function benchSocket(
  baseUrl: string,
  node: BenchNode,
  handlers: {
    onSubmitted?: (requestId: string, ok: number) => void
    onReceipt?: (envelopeIds: string[]) => void
    onEnvelopes?: (count: number) => void
  } = {},
) {
  const socket = new WebSocket(`${baseUrl.replace('http', 'ws')}/v1/ws`, { perMessageDeflate: false })
  let ready: () => void = () => {}
  const isReady = new Promise<void>((resolve) => {
    ready = resolve
  })
  socket.on('message', (data) => {
    const frame = JSON.parse(String(data)) as RelayFrame
    switch (frame.type) {
      case 'challenge':
        socket.send(
          JSON.stringify(
            signSocketAuth(
              {
                relayId: frame.relayId,
                instanceId: node.instanceId,
                challenge: frame.challenge,
                at: Date.now(),
              },
              node.identity.secretKey,
            ),
          ),
        )
        return
      case 'ready':
        return ready()
      case 'submitted':
        return handlers.onSubmitted?.(frame.requestId, frame.results.filter((result) => result.ok).length)
      case 'deliver': {
        let envelopes = 0
        for (const item of frame.items) {
          if (item.type === 'receipt') handlers.onReceipt?.(item.receipt.receipt.envelopeIds)
          if (item.type !== 'envelope') continue
          envelopes++
        }
        if (envelopes > 0) handlers.onEnvelopes?.(envelopes)
        const receipts = deliveredReceipts(node, frame.items, Date.now())
        socket.send(
          JSON.stringify({
            type: 'ack',
            results: frame.items.map((item) => ({ ok: true, id: item.id })),
            receipts,
          }),
        )
        return
      }
      default:
        return
    }
  })
  await isReady
  return {
    submit(envelopes: unknown[]): string {
      const requestId = newId()
      socket.send(JSON.stringify({ type: 'submit', requestId, envelopes }))
      return requestId
    },
    /** Submits envelopes already serialised as a JSON array. */
    submitText(envelopesJson: string): string {
      const requestId = newId()
      socket.send(`{"type":"submit","requestId":"${requestId}","envelopes":${envelopesJson}}`)
      return requestId
    },
    close: () =>
      new Promise<void>((resolve) => {
        socket.once('close', () => resolve())
        socket.close()
      }),
  }
}
