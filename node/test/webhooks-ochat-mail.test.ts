import { and, eq } from 'drizzle-orm'
import t from 'tap'
import { notifications } from '../src/db/schema.ts'
import { dsn, leadWithEmailedMessage, setup } from './fixtures/mail/inbound.ts'
import { settled, startReceiver } from './fixtures/webhooks.ts'
import { buildUser, until } from './helpers.ts'
import {
  acceptedChannel,
  buildOchatNode,
  buildPeer,
  deliver,
  envelopeFrom,
  receiptFrom,
  startFakeRelay,
} from './ochat-helpers.ts'

/**
 * O'Chat and email as an integrator hears of them: connections, messages from partners, delivery
 * statuses, bounced emails.
 */

t.test(
  'a connection accepted, a message received, and statuses of one sent reach the endpoint',
  async (t) => {
    const relay = await startFakeRelay(t)
    const { node, admin } = await buildOchatNode(t, relay, { env: { NODE_WEBHOOK_ALLOWLIST: '127.0.0.1' } })
    const receiver = await startReceiver(t)
    const endpoint = await admin.call('POST', '/api/v1/webhooks/endpoints', {
      url: receiver.url,
      events: ['ochat.connection.changed', 'ochat.message.received', 'ochat.message.status_changed'],
    })
    t.equal(endpoint.status, 201)
    const peer = buildPeer('Globex')
    const { connectionId, channelId } = await acceptedChannel(node, admin, relay, peer)
    await settled(node)
    const states = receiver.received
      .filter((delivery) => delivery.json.type === 'ochat.connection.changed')
      .map((delivery) => delivery.json.data.state)
    t.same(states, ['pending', 'accepted'], 'the request, then its acceptance')

    const received = await deliver(node, relay, [
      envelopeFrom(peer, node, { connectionId, payload: { html: '<p>Order 7 ships Monday</p>' } }),
    ])
    t.equal(received.status, 200)
    await settled(node)
    const incoming = receiver.received.find((delivery) => delivery.json.type === 'ochat.message.received')
    t.match(incoming?.json.data, { channelId, authorCompany: 'Globex', html: '<p>Order 7 ships Monday</p>' })

    const sent = await admin.call('POST', `/api/v1/ochat/channels/${channelId}/messages`, { body: 'Thanks' })
    t.equal(sent.status, 201)
    const statuses = async () => {
      await settled(node)
      return receiver.received
        .filter((delivery) => delivery.json.type === 'ochat.message.status_changed')
        .map((delivery) => delivery.json.data.status)
    }
    // The outbox submits on its own turn: wait for the relay's answer to be written.
    await until('Sent', async () => (await statuses()).includes('sent'), 5_000)
    t.same(await statuses(), ['sent'], 'Sent once the relay stored it')
    const message = (await admin.call('GET', `/api/v1/ochat/channels/${channelId}/messages`)).body.items.find(
      (item: { direction: string }) => item.direction === 'out',
    )
    const receipt = await deliver(node, relay, [
      receiptFrom(peer, node, { kind: 'delivered', envelopeIds: [message.envelopeId] }),
    ])
    t.equal(receipt.status, 200)
    t.same(await statuses(), ['sent', 'delivered'], 'then Delivered, from the signed receipt')
  },
)

t.test('a bounced email is told to the endpoint, with the address and the reason', async (t) => {
  const { node, deps, receive, sarah } = await setup(t, { NODE_WEBHOOK_ALLOWLIST: '127.0.0.1' })
  const receiver = await startReceiver(t)
  const admin = await buildUser(node, { role: 'admin' })
  await admin.call('POST', '/api/v1/webhooks/endpoints', { url: receiver.url, events: ['mail.bounced'] })
  const { customer, lead, messageId } = await leadWithEmailedMessage(node, sarah)
  const row = node.database.db
    .select()
    .from(notifications)
    .where(and(eq(notifications.messageId, messageId), eq(notifications.partnerId, customer.id)))
    .get()
  if (!row) throw new Error('no email notification')
  const token = deps.tokens.bounceToken({ source: 'record', notificationId: row.id })
  await receive(dsn({ token, recipient: 'carla@client.example', status: '4.4.1', action: 'delayed' }))
  await settled(node)
  t.equal(receiver.received.length, 0, 'a delay is no bounce')
  await receive(dsn({ token, recipient: 'carla@client.example', status: '5.1.1', action: 'failed' }))
  await settled(node)
  t.equal(receiver.received.length, 1)
  t.match(receiver.received[0]?.json, {
    type: 'mail.bounced',
    data: {
      id: row.id,
      source: 'record',
      recordId: lead.id,
      address: 'carla@client.example',
      reason: /5\.1\.1/,
    },
  })
})
