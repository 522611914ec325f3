import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import { signWebhook } from '@ochat/shared-protocol'
import t from 'tap'
import { buildNode, buildUser } from './helpers.ts'
import { acceptedChannel, buildPeer, envelopeFrom, OCHAT_SECRET, startFakeRelay } from './ochat-helpers.ts'

/**
 * The relay sends the id of the submit behind a webhook delivery as X-Request-Id: the node logs the
 * receipt under it, so one id finds the message in both servers' logs.
 */

t.test("the node logs a relay webhook's receipt under the relay's request id", async (t) => {
  const logged: string[] = []
  const logStream = new Writable({
    write(chunk, _encoding, done) {
      logged.push(String(chunk))
      done()
    },
  })
  const relay = await startFakeRelay(t)
  const node = await buildNode(t, {
    env: {
      NODE_OCHAT_SECRET: OCHAT_SECRET,
      NODE_OCHAT_WEBSOCKET: 'false',
      NODE_OCHAT_SYNC_MS: '3600000',
      NODE_LOG_LEVEL: 'info',
    },
    logStream,
  })
  const admin = await buildUser(node, { role: 'admin', name: 'Acme Admin' })
  const registered = await admin.call('POST', '/api/v1/ochat/registration', { relayUrl: relay.url })
  t.equal(registered.status, 201)
  const peer = buildPeer()
  const { connectionId } = await acceptedChannel(node, admin, relay, peer)

  const body = JSON.stringify({ v: 1, items: [envelopeFrom(peer, node, { connectionId, seq: 1 })] })
  const signature = signWebhook({
    id: `msg_${randomBytes(12).toString('hex')}`,
    timestamp: Math.floor(node.clock.now() / 1000),
    body,
    secretKeys: [relay.webhookSecretKey],
  })
  const answer = await node.app.inject({
    method: 'POST',
    url: '/ochat/webhook',
    headers: { ...signature, 'content-type': 'application/json', 'x-request-id': 'relay-submit-42' },
    payload: body,
  })
  t.equal(answer.statusCode, 200)
  t.equal(answer.json().results[0]?.ok, true, 'the message is stored')
  t.equal(answer.headers['x-request-id'], 'relay-submit-42')
  const lines = logged.map((line) => JSON.parse(line) as { reqId?: string; msg: string; items?: number })
  const receipt = lines.find((line) => line.msg === 'relay webhook received')
  t.match(receipt, { reqId: 'relay-submit-42', items: 1 }, "the receipt's log line carries the relay's id")
})
