import { createServer, type IncomingMessage } from 'node:http'
import { MemoryNonceStore, verifyWebhook, type WebhookBody } from '@ochat/shared-protocol'
import type { TestNode, TestRelay } from './helpers.ts'
import { deliveredReceipts } from './receipts.ts'

type Answer =
  | { status: number; headers?: Record<string, string>; delayMs?: number; body?: string }
  | 'receipts'

/**
 * A node's POST /ochat/webhook, as a real HTTP server: it verifies the relay's Standard Webhooks
 * signature against the pinned key set, records what arrived, and answers as told (by default 200
 * with signed Delivered receipts, as a node does after its durable write).
 */
export async function startWebhookNode(relay: TestRelay, node: TestNode) {
  const received: { body: WebhookBody; verified: boolean; at: number; requestId: string | undefined }[] = []
  const answers: Answer[] = []
  const nonces = new MemoryNonceStore()
  const publicKeys = relay.relayKeys.keySet.keySet.keys.map((key) => key.publicKey)
  const server = createServer(async (request, response) => {
    const raw = await readBody(request)
    const verified = await verifyWebhook({
      headers: request.headers,
      body: raw,
      publicKeys,
      nonces,
      nowMs: relay.clock.now(),
    })
    const body = JSON.parse(raw) as WebhookBody
    const requestId = request.headers['x-request-id']
    received.push({
      body,
      verified: verified.ok,
      at: relay.clock.now(),
      requestId: typeof requestId === 'string' ? requestId : undefined,
    })
    const answer = answers.shift() ?? 'receipts'
    if (answer !== 'receipts') {
      if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs))
      response.writeHead(answer.status, answer.headers ?? {})
      response.end(answer.body ?? '')
      return
    }
    const receipts = deliveredReceipts(node, body.items, relay.clock.now())
    response.writeHead(200, { 'content-type': 'application/json' })
    response.end(
      JSON.stringify({ v: 1, results: body.items.map((item) => ({ ok: true, id: item.id })), receipts }),
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const url = `http://127.0.0.1:${address && typeof address === 'object' ? address.port : 0}/ochat/webhook`
  return {
    url,
    received,
    /** Queues answers for the next POSTs, in order; afterwards the node answers with receipts. */
    answer: (...next: Answer[]) => answers.push(...next),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = []
    request.on('data', (chunk: Buffer) => parts.push(chunk))
    request.on('end', () => resolve(Buffer.concat(parts).toString('utf8')))
    request.on('error', reject)
  })
}

/** Polls `check` until it returns a value, for work the relay does in the background. */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 8000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
