import { type RelayFrame, signSocketAuth } from '@ochat/shared-protocol'
import WebSocket from 'ws'
import type { TestNode, TestRelay } from './helpers.ts'
import { deliveredReceipts } from './receipts.ts'

/** A node's WebSocket to the relay, as a test drives it: authenticates, records every frame. */
export async function openSocket(
  relay: Pick<TestRelay, 'baseUrl' | 'clock'>,
  node: TestNode,
  options: {
    authenticate?: boolean
    onDeliver?: (frame: Extract<RelayFrame, { type: 'deliver' }>) => void
  } = {},
) {
  const socket = new WebSocket(`${relay.baseUrl.replace('http', 'ws')}/v1/ws`)
  const frames: RelayFrame[] = []
  const waiters: { match: (frame: RelayFrame) => boolean; resolve: (frame: RelayFrame) => void }[] = []
  let closed: { code: number; reason: string } | undefined
  const closeWaiters: ((value: { code: number; reason: string }) => void)[] = []
  socket.on('message', (data) => {
    const frame = JSON.parse(String(data)) as RelayFrame
    if (frame.type === 'deliver' && options.onDeliver) return options.onDeliver(frame)
    frames.push(frame)
    for (const waiter of [...waiters]) {
      if (waiter.match(frame)) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve(frame)
      }
    }
  })
  socket.on('close', (code, reason) => {
    closed = { code, reason: String(reason) }
    for (const resolve of closeWaiters) resolve(closed)
  })

  /** The next frame (already received or future) that matches, within `timeoutMs`. */
  function next<T extends RelayFrame['type']>(
    type: T,
    match: (frame: Extract<RelayFrame, { type: T }>) => boolean = () => true,
    timeoutMs = 5000,
  ) {
    const seen = new Set<RelayFrame>()
    return new Promise<Extract<RelayFrame, { type: T }>>((resolve, reject) => {
      const test = (frame: RelayFrame) =>
        frame.type === type && !seen.has(frame) && match(frame as Extract<RelayFrame, { type: T }>)
      const earlier = frames.find(test)
      if (earlier) {
        frames.splice(frames.indexOf(earlier), 1)
        return resolve(earlier as Extract<RelayFrame, { type: T }>)
      }
      const timer = setTimeout(() => reject(new Error(`no ${type} frame within ${timeoutMs} ms`)), timeoutMs)
      waiters.push({
        match: test,
        resolve: (frame) => {
          clearTimeout(timer)
          frames.splice(frames.indexOf(frame), 1)
          resolve(frame as Extract<RelayFrame, { type: T }>)
        },
      })
    })
  }

  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve())
    socket.once('error', reject)
  })
  const challenge = await next('challenge')
  /** Answers the challenge for `node`'s instance, signed with `signer`'s key (another key: a forgery). */
  const answerChallenge = (signer: { identity: { secretKey: Uint8Array } } = node) =>
    socket.send(
      JSON.stringify(
        signSocketAuth(
          {
            relayId: challenge.relayId,
            instanceId: node.instanceId,
            challenge: challenge.challenge,
            at: relay.clock.now(),
          },
          signer.identity.secretKey,
        ),
      ),
    )
  if (options.authenticate !== false) {
    answerChallenge()
    await next('ready')
  }

  return {
    socket,
    frames,
    next,
    challenge,
    answerChallenge,
    send: (frame: unknown) => socket.send(JSON.stringify(frame)),
    /** Resolves once the relay answered a ping sent now: every frame it wrote before has arrived. */
    async settle() {
      // A pong from before is not the answer to this ping.
      for (const frame of frames.filter((frame) => frame.type === 'pong'))
        frames.splice(frames.indexOf(frame), 1)
      socket.send(JSON.stringify({ type: 'ping', at: Date.now() }))
      await next('pong')
    },
    closed: () =>
      closed
        ? Promise.resolve(closed)
        : new Promise<{ code: number; reason: string }>((resolve) => closeWaiters.push(resolve)),
    /** Acknowledges delivered items as a node does after its durable write: results + a signed Delivered receipt per sender. */
    ackWithReceipts(items: Extract<RelayFrame, { type: 'deliver' }>['items']) {
      for (const item of items) {
        if (item.type !== 'envelope') continue
      }
      const receipts = deliveredReceipts(node, items, relay.clock.now())
      socket.send(
        JSON.stringify({ type: 'ack', results: items.map((item) => ({ ok: true, id: item.id })), receipts }),
      )
      return receipts
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (socket.readyState === WebSocket.CLOSED) return resolve()
        socket.once('close', () => resolve())
        socket.close()
      }),
  }
}
