// PROTOCOL.md §7 and the delivery contract: webhook delivery, retries, the breaker, the deadline.

import type { ManualClock } from '@ochat/shared-protocol/server'
import t from 'tap'
import {
  buildNode,
  buildRelay,
  connect,
  type Driver,
  eachDriver,
  register,
  sealFor,
  signed,
  type TestNode,
  type TestRelay,
} from './helpers.ts'
import { eventually, startWebhookNode } from './webhook-node.ts'
import { openSocket } from './ws-client.ts'

async function setUp(
  t: Parameters<Parameters<typeof eachDriver>[2]>[0],
  driver: Driver,
  env: Record<string, string> = {},
) {
  const relay = await buildRelay(t, driver, { listen: true, env })
  const acme = buildNode('Acme')
  const globex = buildNode('Globex')
  await connect(relay, acme, globex)
  const hook = await startWebhookNode(relay, globex)
  t.teardown(() => hook.close())
  t.equal((await register(relay, globex, { webhookUrl: hook.url })).statusCode, 200)
  const sender = await openSocket(relay, acme)
  t.teardown(() => sender.close())
  return { relay, acme, globex, hook, sender, clock: relay.clock as ManualClock }
}

async function send(relay: TestRelay, from: TestNode, to: TestNode) {
  const envelope = sealFor(from, to)
  const result = (await signed(relay, from, 'POST', '/v1/envelopes', { envelopes: [envelope] })).json()
    .results[0]
  if (!result.ok) throw new Error(JSON.stringify(result))
  return envelope
}

const statusOf = async (relay: TestRelay, node: TestNode, id: string) =>
  (await signed(relay, node, 'GET', `/v1/envelopes/${id}`)).json().envelope

eachDriver(
  t,
  'an offline recipient gets a signed webhook; its receipts settle the envelope',
  async (t, driver) => {
    const { relay, acme, globex, hook, sender } = await setUp(t, driver)
    const envelope = await send(relay, acme, globex)
    await eventually(() => hook.received.length > 0)
    const [post] = hook.received
    t.ok(post?.verified, 'the Standard Webhooks v1a signature verifies against the pinned key set')
    t.match(post?.body.items[0], { type: 'envelope', id: envelope.header.id, seq: 1 })
    const receipt = await sender.next('deliver', (frame) =>
      frame.items.some((item) => item.type === 'receipt'),
    )
    t.match(receipt.items[0], {
      type: 'receipt',
      receipt: { receipt: { kind: 'delivered', envelopeIds: [envelope.header.id] } },
    })
    t.equal((await statusOf(relay, acme, envelope.header.id)).status, 'delivered')
  },
)

eachDriver(
  t,
  'a 500 means Retrying with the next attempt time, then Delivered once the node is back',
  async (t, driver) => {
    const { relay, acme, globex, hook, sender, clock } = await setUp(t, driver)
    hook.answer({ status: 500 })
    const envelope = await send(relay, acme, globex)
    const retrying = await sender.next('deliver', (frame) =>
      frame.items.some((item) => item.type === 'status'),
    )
    const event = retrying.items[0]?.type === 'status' ? retrying.items[0].event : undefined
    t.match(event, { status: 'retrying', envelopeId: envelope.header.id, attempt: 1, reason: /answered 500/ })
    t.equal(event?.status === 'retrying' && event.nextAttemptAt, clock.now() + 5_000, 'first retry after 5 s')
    await relay.runJobs()
    // The scan that tick started, and any POST it made, have finished: what it found due was sent.
    await relay.webhooks.idle()
    t.equal(hook.received.length, 1, 'nothing is sent before the next attempt time')
    clock.advance(5_000)
    await relay.runJobs()
    await eventually(async () => (await statusOf(relay, acme, envelope.header.id)).status === 'delivered')
    t.equal(hook.received.length, 2)
    t.same(
      hook.received[1]?.body.items.map((item) => item.id),
      [envelope.header.id],
      'the same envelope id on the retry',
    )
  },
)

eachDriver(t, '429 with Retry-After waits as long as the node asked', async (t, driver) => {
  const { relay, acme, globex, hook, sender, clock } = await setUp(t, driver)
  hook.answer({ status: 429, headers: { 'retry-after': '120' } })
  await send(relay, acme, globex)
  const frame = await sender.next('deliver', (entry) => entry.items.some((item) => item.type === 'status'))
  const event = frame.items[0]?.type === 'status' ? frame.items[0].event : undefined
  t.equal(event?.status === 'retrying' && event.nextAttemptAt, clock.now() + 120_000)
})

eachDriver(t, 'any other 4xx fails at once, with the reason', async (t, driver) => {
  const { relay, acme, globex, hook, sender } = await setUp(t, driver)
  hook.answer({ status: 400 })
  const envelope = await send(relay, acme, globex)
  const frame = await sender.next('deliver', (entry) => entry.items.some((item) => item.type === 'status'))
  t.match(frame.items[0], {
    type: 'status',
    event: {
      status: 'failed',
      envelopeId: envelope.header.id,
      reason: /^invalid: .*refused the delivery with 400/,
    },
  })
  t.match(await statusOf(relay, acme, envelope.header.id), { status: 'failed' })
  t.same(
    await relay.database.db.query.queue.findMany({ where: (queue, { eq }) => eq(queue.kind, 'envelope') }),
    [],
    'ciphertext gone',
  )
})

eachDriver(
  t,
  '410 drops the webhook; the envelope waits and goes out when the node connects',
  async (t, driver) => {
    const { relay, acme, globex, hook, sender } = await setUp(t, driver)
    hook.answer({ status: 410 })
    const envelope = await send(relay, acme, globex)
    const frame = await sender.next('deliver', (entry) => entry.items.some((item) => item.type === 'status'))
    t.match(frame.items[0], { type: 'status', event: { status: 'retrying', reason: /410/ } })
    const me = (await signed(relay, globex, 'GET', '/v1/instances/me')).json()
    t.ok(me.instance, 'the instance stays registered')
    const socket = await openSocket(relay, globex)
    t.teardown(() => socket.close())
    const deliver = await socket.next('deliver')
    t.equal(deliver.items[0]?.id, envelope.header.id)
  },
)

eachDriver(
  t,
  'a node that connects while a webhook to it is failing gets the envelope over its socket at once',
  async (t, driver) => {
    const { relay, acme, globex, hook, clock } = await setUp(t, driver)
    // The POST is held while the node's socket connects, then fails.
    hook.answer({ status: 503, delayMs: 800 })
    const envelope = await send(relay, acme, globex)
    await eventually(() => hook.received.length > 0)
    const socket = await openSocket(relay, globex)
    t.teardown(() => socket.close())
    const startedAt = clock.now()
    const deliver = await socket.next('deliver', (frame) =>
      frame.items.some((item) => item.id === envelope.header.id),
    )
    t.ok(deliver, 'the socket got the envelope')
    t.equal(clock.now(), startedAt, 'without waiting for the next webhook attempt (the clock never moved)')
    t.equal(hook.received.length, 1, 'and no second POST')
    const breaker = await relay.database.db.query.destinations.findFirst({
      where: (destinations, { eq }) => eq(destinations.instanceId, globex.instanceId),
    })
    t.equal(
      breaker?.consecutiveFailures ?? 0,
      0,
      'a failure while the node is connected does not open its breaker',
    )
  },
)

eachDriver(t, 'a webhook that does not answer in time is retried', async (t, driver) => {
  const { relay, acme, globex, hook, sender } = await setUp(t, driver, { RELAY_WEBHOOK_TIMEOUT_MS: '300' })
  hook.answer({ status: 200, delayMs: 1500 })
  await send(relay, acme, globex)
  const frame = await sender.next('deliver', (entry) => entry.items.some((item) => item.type === 'status'))
  t.match(frame.items[0], {
    type: 'status',
    event: { status: 'retrying', reason: /did not answer within 0 s|did not answer within/ },
  })
})

eachDriver(
  t,
  'down past the deadline (faked clock): Failed with the last error, ciphertext deleted',
  async (t, driver) => {
    const { relay, acme, globex, hook, sender, clock } = await setUp(t, driver)
    await hook.close()
    const envelope = await send(relay, acme, globex)
    const first = await sender.next('deliver', (entry) => entry.items.some((item) => item.type === 'status'))
    t.match(first.items[0], { type: 'status', event: { status: 'retrying', reason: /cannot be reached/ } })
    sender.send({ type: 'ack', results: first.items.map((item) => ({ ok: true, id: item.id })) })
    clock.advance(73 * 3_600_000)
    await relay.runJobs()
    const failed = await sender.next('deliver', (entry) =>
      entry.items.some((item) => item.type === 'status' && item.event.status === 'failed'),
    )
    const event = failed.items.find((item) => item.type === 'status' && item.event.status === 'failed')
    t.match(event, {
      type: 'status',
      event: {
        envelopeId: envelope.header.id,
        reason: /^error: not delivered within 72 h; last error: .*cannot be reached/,
      },
    })
    t.match(await statusOf(relay, acme, envelope.header.id), { status: 'failed' })
    t.same(
      await relay.database.db.query.queue.findMany({ where: (queue, { eq }) => eq(queue.kind, 'envelope') }),
      [],
      'undelivered ciphertext goes at the deadline',
    )
  },
)
