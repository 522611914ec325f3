import { connect } from 'node:net'
import { generateIdentityKeyPair, newId, signWebhook } from '@ochat/shared-protocol'
import t, { type Test } from 'tap'
import { buildNode, buildPartner, buildUser } from './helpers.ts'
import {
  acceptedChannel,
  buildOchatNode,
  buildPeer,
  connectionView,
  countRows,
  deliver,
  envelopeFrom,
  receiptFrom,
  startFakeRelay,
} from './ochat-helpers.ts'

/**
 * What a compromised relay can try against a node, which trusts it with neither content, nor
 * connections, nor keys: decide connections for us, bring back revoked ones, point our uploads
 * elsewhere, or make every delivery cost a full read of its connections. Regression tests, named
 * after what broke.
 */

t.test(
  'a connection the relay reports accepted, that no admin here accepted, stays paused until its safety code is verified',
  async (t) => {
    const relay = await startFakeRelay(t)
    const { node, admin } = await buildOchatNode(t, relay)
    // An impostor: the relay made up "Globex" with keys it holds, already accepted.
    const impostor = buildPeer('Globex')
    const forged = connectionView(node, impostor, { state: 'accepted' })
    relay.connections = [forged]
    const synced = await admin.call('POST', '/api/v1/ochat/connections/sync')
    t.equal(synced.status, 200)
    const view = (await admin.call('GET', `/api/v1/ochat/connections/${forged.id}`)).body
    t.equal(view.state, 'accepted', 'shown as the relay reports it')
    t.equal(view.paused, true, 'but paused: nobody here chose to trust these keys')
    t.ok(view.keyChange, 'with the alert and the code to compare')

    const envelope = envelopeFrom(impostor, node, {
      connectionId: forged.id,
      payload: { html: '<p>New IBAN</p>' },
    })
    const answer = await deliver(node, relay, [envelope])
    t.equal(answer.status, 200)
    t.equal(answer.body.results[0].ok, false, 'its envelopes are not stored')
    t.match(answer.body.results[0].reason, /^blocked: /, 'and kept by the relay until verified')
    t.equal(countRows(node, 'ochat_messages'), 0, 'nothing stored')
    const sent = await admin.call('POST', `/api/v1/ochat/channels/${view.channelId}/messages`, { body: 'Hi' })
    t.equal(sent.status, 409, 'and nothing can be sent to it')
    t.equal(sent.body.error.code, 'E_OCHAT_CHANNEL_PAUSED')

    relay.connections = [{ ...forged, updatedAt: forged.updatedAt + 5 }]
    await admin.call('POST', '/api/v1/ochat/connections/sync')
    t.equal(
      (await admin.call('GET', `/api/v1/ochat/connections/${forged.id}`)).body.paused,
      true,
      'a later read of the same view does not lift the pause',
    )

    const verified = await admin.call('POST', `/api/v1/ochat/connections/${forged.id}/verify`, {
      safetyCode: view.keyChange.newSafetyCode.display,
    })
    t.equal(verified.status, 200, 'an admin who compared the code lifts it')
    t.equal(verified.body.paused, false)
    const again = await deliver(node, relay, [envelopeFrom(impostor, node, { connectionId: forged.id })])
    t.same(again.body.results[0].ok, true, 'then messages flow')
  },
)

t.test(
  'an incoming request the relay says was accepted, while no admin here accepted it, is paused',
  async (t) => {
    const relay = await startFakeRelay(t)
    const { node, admin } = await buildOchatNode(t, relay)
    const peer = buildPeer('Initech')
    const pending = connectionView(node, peer, { state: 'pending' })
    relay.connections = [pending]
    await admin.call('POST', '/api/v1/ochat/connections/sync')
    relay.connections = [{ ...pending, state: 'accepted', updatedAt: pending.updatedAt + 1 }]
    await admin.call('POST', '/api/v1/ochat/connections/sync')
    const view = (await admin.call('GET', `/api/v1/ochat/connections/${pending.id}`)).body
    t.equal(view.state, 'accepted')
    t.equal(view.paused, true, 'paused until an admin verifies')

    // The ordinary way, for comparison: an admin here accepts, and nothing is paused.
    const other = buildPeer('Umbrella')
    const { connectionId } = await acceptedChannel(node, admin, relay, other)
    t.equal((await admin.call('GET', `/api/v1/ochat/connections/${connectionId}`)).body.paused, false)
  },
)

t.test('a relay answering our accept with another connection is not believed', async (t) => {
  const relay = await startFakeRelay(t)
  const { node, admin } = await buildOchatNode(t, relay)
  const peer = buildPeer('Initech')
  const pending = connectionView(node, peer, { state: 'pending' })
  relay.connections = [pending]
  await admin.call('POST', '/api/v1/ochat/connections/sync')
  const smuggled = connectionView(node, buildPeer('Impostor'), { state: 'accepted' })
  relay.handlers.set(`POST /v1/connections/${pending.id}/decision`, () => ({
    status: 200,
    body: { connection: smuggled },
  }))
  const contact = buildPartner(node)
  const answer = await admin.call('POST', `/api/v1/ochat/connections/${pending.id}/accept`, {
    contactPartnerId: contact.id,
  })
  t.equal(answer.status, 502)
  t.equal(answer.body.error.code, 'E_OCHAT_RELAY_UNTRUSTED')
  t.equal((await admin.call('GET', `/api/v1/ochat/connections/${smuggled.id}`)).status, 404, 'not stored')
})

/** A node with an accepted channel to "Globex", and the relay's view of that connection. */
async function acceptedWithGlobex(t: Test) {
  const relay = await startFakeRelay(t)
  const { node, admin } = await buildOchatNode(t, relay)
  const peer = buildPeer('Globex')
  const { connectionId } = await acceptedChannel(node, admin, relay, peer)
  const accepted = relay.connections[0]
  if (!accepted) throw new Error('no connection')
  return { relay, node, admin, peer, connectionId, accepted }
}

t.test('an older view of a connection than the one held changes nothing', async (t) => {
  const { relay, admin, connectionId, accepted } = await acceptedWithGlobex(t)
  // A read that began before the accept and answers after it: the relay's view from back then.
  relay.connections = [{ ...accepted, state: 'pending', updatedAt: accepted.updatedAt - 1 }]
  await admin.call('POST', '/api/v1/ochat/connections/sync')
  const view = (await admin.call('GET', `/api/v1/ochat/connections/${connectionId}`)).body
  t.equal(view.state, 'accepted', 'still accepted')
  t.equal(view.paused, false, 'and not paused')
  const sent = await admin.call('POST', `/api/v1/ochat/channels/${view.channelId}/messages`, { body: 'Hi' })
  t.equal(sent.status, 201, 'messages can still be sent')
})

t.test('a revoked connection stays revoked when the relay reports it accepted again', async (t) => {
  const { relay, node, admin, peer, connectionId, accepted } = await acceptedWithGlobex(t)
  const revoked = { ...accepted, state: 'revoked' as const, updatedAt: accepted.updatedAt + 1 }
  relay.handlers.set(`POST /v1/connections/${connectionId}/decision`, () => ({
    status: 200,
    body: { connection: revoked },
  }))
  const revoke = await admin.call('POST', `/api/v1/ochat/connections/${connectionId}/revoke`, {})
  t.equal(revoke.body.state, 'revoked')

  relay.connections = [{ ...accepted, state: 'accepted', updatedAt: accepted.updatedAt + 2 }]
  await admin.call('POST', '/api/v1/ochat/connections/sync')
  t.equal(
    (await admin.call('GET', `/api/v1/ochat/connections/${connectionId}`)).body.state,
    'revoked',
    'revoked is final (PROTOCOL.md §3.1)',
  )
  const answer = await deliver(node, relay, [envelopeFrom(peer, node, { connectionId })])
  t.equal(answer.body.results[0].ok, false, 'the peer’s envelopes stay refused')
  t.match(answer.body.results[0].reason, /revoked/)
  t.equal(countRows(node, 'ochat_messages'), 0)
})

t.test(
  'deliveries cannot make the node read every connection from the relay each time (forged receipts, unknown connections)',
  async (t) => {
    const relay = await startFakeRelay(t)
    const { node, admin } = await buildOchatNode(t, relay)
    const peer = buildPeer('Globex')
    const { connectionId } = await acceptedChannel(node, admin, relay, peer)
    const reads = () => relay.hits.get('GET /v1/connections') ?? 0
    const before = reads()
    const stranger = generateIdentityKeyPair().secretKey
    for (let i = 0; i < 10; i++) {
      const answer = await deliver(node, relay, [
        receiptFrom(peer, node, { kind: 'read', envelopeIds: [crypto.randomUUID()], signWith: stranger }),
        envelopeFrom(peer, node, { connectionId: crypto.randomUUID() }),
        envelopeFrom(peer, node, { connectionId, signWith: stranger }),
      ])
      t.equal(answer.status, 200)
      t.equal(answer.body.results[0].ok, false, 'the forged receipt is refused')
      t.match(answer.body.results[1].reason, /^(error|invalid): /, 'the unknown connection is refused')
      if (i > 0) {
        // Without a fresh read, a bad signature may be a key rotated a moment ago: retryable, not forged.
        t.match(answer.body.results[2].reason, /^error: /, 'the bad signature waits for the next read')
      }
    }
    t.equal(reads() - before, 1, 'ten deliveries in the same instant caused one read of the connections')
    node.clock.advance(2_000)
    const later = await deliver(node, relay, [envelopeFrom(peer, node, { connectionId, signWith: stranger })])
    t.equal(reads() - before, 2, 'one more, two seconds later')
    t.match(later.body.results[0].reason, /^invalid: .*signature/, 'and then the forgery is called one')
    t.equal(countRows(node, 'ochat_messages'), 0, 'nothing stored')
  },
)

t.test('an upload URL the relay points at another host gets no upload', async (t) => {
  const relay = await startFakeRelay(t)
  const victim = await startFakeRelay(t)
  const { node, admin } = await buildOchatNode(t, relay)
  const { channelId } = await acceptedChannel(node, admin, relay, buildPeer('Globex'))
  relay.handlers.set('POST /v1/blobs', () => ({
    status: 201,
    body: {
      blobId: '019a9a2c-6c00-7000-8000-000000000001',
      // Appended to the relay's base URL, "@host" makes the relay's address a user name.
      uploadUrl: `@${victim.url.replace('http://', '')}/steal`,
      uploadToken: 'token',
    },
  }))
  const upload = await node.app.inject({
    method: 'POST',
    url: '/api/v1/attachments?fileName=quote.pdf',
    headers: { authorization: `Bearer ${admin.secret}`, 'content-type': 'application/pdf' },
    payload: Buffer.from('%PDF-1.7 quote'),
  })
  t.equal(upload.statusCode, 201)
  const sent = await admin.call('POST', `/api/v1/ochat/channels/${channelId}/messages`, {
    body: 'The quote',
    attachmentIds: [JSON.parse(upload.body).id],
  })
  t.equal(sent.status, 201)
  const deadline = Date.now() + 10_000
  let message: { status: string; reason: string | null } | undefined
  while (Date.now() < deadline) {
    const page = await admin.call('GET', `/api/v1/ochat/channels/${channelId}/messages`)
    message = page.body.items[0]
    if (message?.status === 'retrying') break
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  t.equal(message?.status, 'retrying', 'the upload did not happen')
  t.match(message?.reason, /upload URL/, 'and the message says why')
  t.equal(
    [...victim.hits.values()].reduce((a, b) => a + b, 0),
    0,
    'the other host got nothing',
  )
  t.equal(relay.hits.get('PUT /v1/blobs/019a9a2c-6c00-7000-8000-000000000001') ?? 0, 0)
})

/** Sends only the headers of a POST with a large declared body, and answers the status line that comes back. */
async function headersOnly(url: string, headers: Record<string, string>): Promise<string> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname)
    const timer = setTimeout(() => {
      socket.destroy()
      resolve('no answer')
    }, 3_000)
    socket.once('error', reject)
    socket.once('data', (data) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(String(data).split('\r\n')[0] ?? '')
    })
    const lines = Object.entries({
      host: hostname,
      'content-type': 'application/json',
      'content-length': String(20 * 1024 * 1024),
      ...headers,
    }).map(([name, value]) => `${name}: ${value}`)
    socket.write(`POST /ochat/webhook HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`)
  })
}

t.test(
  'a webhook POST without a signature, or stale, is refused before its 20 MB body is read',
  async (t) => {
    const relay = await startFakeRelay(t)
    const { node } = await buildOchatNode(t, relay, { listen: true })
    const url = node.url as string
    t.equal(await headersOnly(url, {}), 'HTTP/1.1 401 Unauthorized', 'no signature headers')
    const stale = String(Math.floor(node.clock.now() / 1000) - 3600)
    t.equal(
      await headersOnly(url, {
        'webhook-id': 'msg_1',
        'webhook-timestamp': stale,
        'webhook-signature': 'v1a,AAAA',
      }),
      'HTTP/1.1 401 Unauthorized',
      'an hour old',
    )
    t.equal(countRows(node, 'ochat_webhook_nonces'), 0, 'nothing written')
  },
)

t.test(
  'regression: the webhook window is in whole seconds, 300 s inclusive and 301 s refused, both ways',
  async (t) => {
    const relay = await startFakeRelay(t)
    const { node } = await buildOchatNode(t, relay)
    // Part-way into a second: a fractional comparison refused webhooks signed exactly 300 s before.
    node.clock.set(Math.floor(node.clock.now() / 1000) * 1000 + 700)
    const second = Math.floor(node.clock.now() / 1000)
    const post = async (timestamp: number) => {
      const event = {
        v: 1,
        status: 'failed',
        envelopeId: newId(),
        to: buildPeer('Initech').instanceId,
        reason: 'error: deadline passed',
        at: node.clock.now(),
      }
      const body = JSON.stringify({ v: 1, items: [{ type: 'status', id: newId(), event }] })
      const headers = signWebhook({
        id: `msg_${newId()}`,
        timestamp,
        body,
        secretKeys: [relay.webhookSecretKey],
      })
      const response = await node.app.inject({
        method: 'POST',
        url: '/ochat/webhook',
        headers: { ...headers, 'content-type': 'application/json' },
        payload: body,
      })
      return { status: response.statusCode, body: JSON.parse(response.body) }
    }
    t.equal((await post(second - 300)).status, 200, 'signed 300 s ago')
    t.equal((await post(second + 300)).status, 200, 'signed 300 s ahead')
    for (const timestamp of [second - 301, second + 301]) {
      const refused = await post(timestamp)
      t.equal(refused.status, 401)
      t.match(refused.body, { error: { code: 'E_WEBHOOK_REFUSED', reason: /more than 300 s/ } })
    }
  },
)

t.test('a node with no relay answers its webhook 404 before reading the body', async (t) => {
  const node = await buildNode(t, { listen: true })
  t.equal(await headersOnly(node.url as string, {}), 'HTTP/1.1 404 Not Found')
  const user = await buildUser(node)
  t.ok(user, 'the node still works')
})
