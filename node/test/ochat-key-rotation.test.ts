// A key rotation whose answer never arrives (the relay or the network failed after the relay applied
// it, or this process stopped while it was under way) must not leave the node with keys the relay no
// longer accepts: the new keys are kept, sealed, until the relay tells which ones it holds.
import type { IncomingMessage } from 'node:http'
import {
  fromBase64Url,
  type InstancePublicKeys,
  parseSignedRequestHeaders,
  requestSigningInput,
  sha256Base64Url,
  verifyDetached,
} from '@ochat/shared-protocol'
import t from 'tap'
import { type Actor, buildNode, buildUser } from './helpers.ts'
import {
  acceptedChannel,
  buildOchatNode,
  buildPeer,
  deliver,
  envelopeFrom,
  type FakeRelay,
  OCHAT_SECRET,
  startFakeRelay,
} from './ochat-helpers.ts'

/**
 * The fake relay as a real one behaves for rotation: it holds one identity key per instance, answers
 * GET /v1/instances/me only to requests signed by it (401 otherwise), and takes a rotation signed by it.
 * `afterRotation` says what the node hears back once the relay applied one.
 */
function holdKeys(relay: FakeRelay, keys: InstancePublicKeys) {
  const held = { keys, rotations: 0, down: false }
  const signedByHeld = (request: IncomingMessage, body: string) => {
    const headers = parseSignedRequestHeaders(request.headers)
    const signature = headers.ok ? fromBase64Url(headers.value.signature) : undefined
    const key = fromBase64Url(held.keys.identityKey)
    if (!headers.ok || !signature || !key) return false
    const input = requestSigningInput({
      v: 1,
      method: request.method ?? '',
      path: request.url ?? '',
      audience: relay.relayId,
      instanceId: headers.value.instanceId,
      timestamp: headers.value.timestamp,
      nonce: headers.value.nonce,
      bodySha256: sha256Base64Url(body),
    })
    return verifyDetached(input, signature, key)
  }
  const refused = {
    status: 401,
    body: { error: { code: 'E_AUTH_BAD_SIGNATURE', message: 'Not signed.', reason: 'auth-required: no' } },
  }
  const unavailable = {
    status: 503,
    body: { error: { code: 'E_UNAVAILABLE', message: 'Try later.', reason: 'error: restarting' } },
  }
  relay.handlers.set('GET /v1/instances/me', (request, body) => {
    if (held.down) return unavailable
    if (!signedByHeld(request, body)) return refused
    return { status: 200, body: { instance: { instanceId: 'ignored', status: 'active' } } }
  })
  return { held, signedByHeld, refused, unavailable }
}

async function registration(admin: Actor) {
  return (await admin.call('GET', '/api/v1/ochat/registration')).body
}

t.test('the relay applied a rotation whose answer was lost: the node adopts the new keys', async (t) => {
  const relay = await startFakeRelay(t)
  const { admin } = await buildOchatNode(t, relay)
  const before = await registration(admin)
  const relayHeld = holdKeys(relay, before.keys)
  relay.handlers.set('POST /v1/instances/me/keys', (request, body) => {
    if (!relayHeld.signedByHeld(request, body)) return relayHeld.refused
    relayHeld.held.keys = JSON.parse(body).rotation.keys
    relayHeld.held.rotations++
    // Applied, then the answer is lost (a proxy's 502 after the relay committed).
    return {
      status: 502,
      body: { error: { code: 'E_BAD_GATEWAY', message: 'Bad gateway.', reason: 'error: x' } },
    }
  })

  const rotated = await admin.call('POST', '/api/v1/ochat/registration/rotate-keys')
  t.equal(rotated.status, 502, 'the admin is told the relay did not answer')
  t.equal(rotated.body.error.code, 'E_OCHAT_RELAY_UNREACHABLE')
  t.equal(relayHeld.held.rotations, 1, 'the relay applied the rotation')
  const deadline = Date.now() + 10_000
  let after = await registration(admin)
  while (after.keys.identityKey === before.keys.identityKey && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    after = await registration(admin)
  }
  t.same(after.keys, relayHeld.held.keys, 'the node now holds the keys the relay holds')
  t.equal(after.rotationPending, false, 'nothing is left pending')
  const check = await admin.call('POST', '/api/v1/ochat/registration/check')
  t.equal(check.status, 200)
  t.equal((await registration(admin)).status, 'valid', 'its requests are accepted by the relay again')
})

t.test('a rotation the relay never applied (it failed with a 5xx): the node keeps its keys', async (t) => {
  const relay = await startFakeRelay(t)
  const { admin } = await buildOchatNode(t, relay)
  const before = await registration(admin)
  const relayHeld = holdKeys(relay, before.keys)
  relay.handlers.set('POST /v1/instances/me/keys', () => relayHeld.unavailable)

  const rotated = await admin.call('POST', '/api/v1/ochat/registration/rotate-keys')
  t.equal(rotated.status, 502)
  const deadline = Date.now() + 10_000
  let after = await registration(admin)
  while (after.rotationPending && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    after = await registration(admin)
  }
  t.equal(after.rotationPending, false, 'the relay accepts the old keys: the rotation is dropped')
  t.same(after.keys, before.keys, 'the keys did not change')
  t.same(relayHeld.held.keys, before.keys)
})

t.test(
  'the process stopped during a rotation the relay applied: on restart it adopts the new keys',
  async (t) => {
    const relay = await startFakeRelay(t)
    const first = await buildOchatNode(t, relay)
    const dataDir = first.node.dataDir
    const before = await registration(first.admin)
    const relayHeld = holdKeys(relay, before.keys)
    relay.handlers.set('POST /v1/instances/me/keys', (request, body) => {
      if (!relayHeld.signedByHeld(request, body)) return relayHeld.refused
      relayHeld.held.keys = JSON.parse(body).rotation.keys
      // Applied; then the relay goes away before the node can ask which keys it holds.
      relayHeld.held.down = true
      return relayHeld.unavailable
    })
    const rotated = await first.admin.call('POST', '/api/v1/ochat/registration/rotate-keys')
    t.equal(rotated.status, 502)
    const pending = await registration(first.admin)
    t.equal(pending.rotationPending, true, 'the outcome is not known: the new keys are kept, sealed')
    t.same(pending.keys, before.keys, 'the node goes on with the keys it had')
    const again = await first.admin.call('POST', '/api/v1/ochat/registration/rotate-keys')
    t.equal(again.status, 409, 'a second rotation waits for the first one to be settled')
    t.match(again.body.error.reason, /not known yet/)
    await first.node.close()

    // The relay is back; a new process on the same data directory.
    relayHeld.held.down = false
    const node = await buildNode(t, {
      dataDir,
      env: { NODE_OCHAT_SECRET: OCHAT_SECRET, NODE_OCHAT_WEBSOCKET: 'false', NODE_OCHAT_SYNC_MS: '3600000' },
    })
    const admin = await buildUser(node, { role: 'admin', name: 'Acme Admin 2', login: 'admin2' })
    const deadline = Date.now() + 10_000
    let after = await registration(admin)
    while (after.rotationPending && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50))
      after = await registration(admin)
    }
    t.equal(after.rotationPending, false)
    t.same(after.keys, relayHeld.held.keys, 'after the restart the node holds the keys the relay holds')
    t.not(after.keys.identityKey, before.keys.identityKey)
  },
)

t.test('after a rotation, what a peer sealed to the old keys still opens, for 7 days', async (t) => {
  const relay = await startFakeRelay(t)
  const { node, admin } = await buildOchatNode(t, relay)
  const peer = buildPeer('Globex')
  const { connectionId, channelId } = await acceptedChannel(node, admin, relay, peer)
  const oldKey = node.ochat.instance().encryption.publicKey
  relay.handlers.set('POST /v1/instances/me/keys', (_request, body) => ({
    status: 200,
    body: { instance: { instanceId: 'ignored', status: 'active', keys: JSON.parse(body).rotation.keys } },
  }))
  t.equal((await admin.call('POST', '/api/v1/ochat/registration/rotate-keys')).status, 200)
  t.not(Buffer.compare(node.ochat.instance().encryption.publicKey, oldKey), 0, 'new encryption key')

  // The peer has not synced yet: it seals to the key it pinned.
  const early = await deliver(node, relay, [
    envelopeFrom(peer, node, {
      connectionId,
      sealTo: oldKey,
      payload: { html: '<p>sent before they knew</p>' },
    }),
  ])
  t.equal(early.body.results[0].ok, true, 'opened with the replaced key')
  const thread = await admin.call('GET', `/api/v1/ochat/channels/${channelId}/messages`)
  t.equal(thread.body.items[0].html, '<p>sent before they knew</p>', 'and stored')

  node.clock.advance(7 * 24 * 3_600_000 + 60_000)
  const late = await deliver(node, relay, [envelopeFrom(peer, node, { connectionId, sealTo: oldKey })])
  t.equal(late.body.results[0].ok, false, 'a week later the replaced key opens nothing')
  t.match(late.body.results[0].reason, /^invalid:/)
  const current = await deliver(node, relay, [envelopeFrom(peer, node, { connectionId, seq: 3 })])
  t.equal(current.body.results[0].ok, true, 'what is sealed to the new key opens')
})
