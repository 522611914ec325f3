// A node pins the relay's key set at registration and accepts a rotation only
// through a newer set signed by a key it already pins (PROTOCOL.md §1.5).
import { identityKeyPairFromSeed, type SignedRelayKeySet, signKeySet, toBase64 } from '@ochat/shared-protocol'
import t from 'tap'
import { buildOchatNode, deliver, type FakeRelay, startFakeRelay } from './ochat-helpers.ts'

function newKey(kid: string) {
  const pair = identityKeyPairFromSeed(Buffer.alloc(32, kid))
  return {
    kid,
    secretKey: pair.secretKey,
    whsk: `whsk_${toBase64(pair.secretKey)}`,
    whpk: `whpk_${toBase64(pair.publicKey)}`,
  }
}

/** What the relay answers at /v1/info from now on: its own info with this key set. */
function publish(relay: FakeRelay, keySet: SignedRelayKeySet) {
  relay.handlers.set('GET /v1/info', () => ({
    status: 200,
    body: {
      v: 1,
      relayId: relay.relayId,
      name: 'Test relay',
      registration: 'open',
      keySet,
      limits: {
        envelopeBytes: 262144,
        bulkRecipients: 1000,
        attachmentBytes: 100_000_000,
        attachmentsPerMessage: 5,
        messageAttachmentBytes: 500_000_000,
        clockSkewSeconds: 300,
      },
    },
  }))
}

t.test('a rotated relay key is pinned only through a newer set signed by a pinned key', async (t) => {
  const relay = await startFakeRelay(t)
  const { node, admin } = await buildOchatNode(t, relay)
  const first = relay.webhookSecretKey
  const firstSecret = Buffer.from(first.slice('whsk_'.length), 'base64')
  const firstPublic = `whpk_${toBase64(firstSecret.subarray(32))}`
  const next = newKey('k2')

  relay.webhookSecretKey = next.whsk
  t.equal(
    (await deliver(node, relay, [])).status,
    401,
    'a webhook signed by a key the node never pinned is refused',
  )

  // Serial 2, vouched for by the pinned key: k1 retiring, k2 active.
  publish(
    relay,
    signKeySet(
      {
        v: 1,
        relayId: relay.relayId,
        serial: 2,
        issuedAt: node.clock.now(),
        keys: [
          { kid: 'k1', publicKey: firstPublic, status: 'retiring' },
          { kid: 'k2', publicKey: next.whpk, status: 'active' },
        ],
      },
      [{ kid: 'k1', secretKey: new Uint8Array(firstSecret) }],
    ),
  )
  const checked = await admin.call('POST', '/api/v1/ochat/registration/check')
  t.equal(checked.status, 200)
  const stored = node.database.sqlite.prepare('select pinned_key_set from ochat_identity').get() as {
    pinned_key_set: string
  }
  t.equal(JSON.parse(stored.pinned_key_set).keySet.serial, 2, 'the new set is pinned, and survives a restart')
  const withNew = await deliver(node, relay, [])
  t.not(withNew.status, 401, 'a webhook signed by the rotated key is accepted now')
  relay.webhookSecretKey = first
  t.not((await deliver(node, relay, [])).status, 401, 'the retiring key still works while nodes catch up')

  // Serial 3, signed only by a key the node does not pin: a relay (or someone on its path) trying to
  // swap in its own key is not believed.
  const rogue = newKey('k3')
  publish(
    relay,
    signKeySet(
      {
        v: 1,
        relayId: relay.relayId,
        serial: 3,
        issuedAt: node.clock.now(),
        keys: [{ kid: 'k3', publicKey: rogue.whpk, status: 'active' }],
      },
      [{ kid: 'k3', secretKey: rogue.secretKey }],
    ),
  )
  await admin.call('POST', '/api/v1/ochat/registration/check')
  relay.webhookSecretKey = rogue.whsk
  t.equal((await deliver(node, relay, [])).status, 401, 'a set not signed by a pinned key changes nothing')
  const still = node.database.sqlite.prepare('select pinned_key_set from ochat_identity').get() as {
    pinned_key_set: string
  }
  t.equal(JSON.parse(still.pinned_key_set).keySet.serial, 2)
})

t.test(
  'a node follows a rotation that drops the key of the relay id, named in origin, and refuses a changed origin',
  async (t) => {
    const relay = await startFakeRelay(t)
    const { node, admin } = await buildOchatNode(t, relay)
    const firstSecret = Buffer.from(relay.webhookSecretKey.slice('whsk_'.length), 'base64')
    const origin = `whpk_${toBase64(firstSecret.subarray(32))}`
    const next = newKey('k2')
    const pinnedSerial = () =>
      JSON.parse(
        (
          node.database.sqlite.prepare('select pinned_key_set from ochat_identity').get() as {
            pinned_key_set: string
          }
        ).pinned_key_set,
      ).keySet
    const rotation = (serial: number, origin: string | undefined) =>
      signKeySet(
        {
          v: 1,
          relayId: relay.relayId,
          serial,
          issuedAt: node.clock.now(),
          ...(origin ? { origin } : {}),
          keys: [{ kid: 'k2', publicKey: next.whpk, status: 'active' }],
        },
        [
          { kid: 'k1', secretKey: new Uint8Array(firstSecret) },
          { kid: 'k2', secretKey: next.secretKey },
        ],
      )

    // Serial 2: the first key has left, and the set says it is the one the relay id came from.
    publish(relay, rotation(2, origin))
    t.equal((await admin.call('POST', '/api/v1/ochat/registration/check')).status, 200)
    t.match(pinnedSerial(), { serial: 2, origin }, 'pinned, origin included')
    relay.webhookSecretKey = next.whsk
    t.not((await deliver(node, relay, [])).status, 401, 'webhooks signed by the new key are accepted')

    // Serial 3, signed by the pinned key, but claiming another origin: not the same relay any more.
    publish(relay, rotation(3, next.whpk))
    await admin.call('POST', '/api/v1/ochat/registration/check')
    t.equal(pinnedSerial().serial, 2, 'an origin that does not derive the relay id is refused')
    publish(relay, rotation(3, undefined))
    await admin.call('POST', '/api/v1/ochat/registration/check')
    t.equal(pinnedSerial().serial, 2, 'and so is a set that drops the pinned origin')
  },
)
