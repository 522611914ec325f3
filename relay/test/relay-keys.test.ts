// PROTOCOL.md §1.5: the relay's key set, across rotations of its signing keys.
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import {
  deriveRelayId,
  relayIdKey,
  signKeySet,
  verifyKeySetUpdate,
  webhookPublicKeyBytes,
} from '@ochat/shared-protocol'
import t, { type Test } from 'tap'
import { loadOrCreateRelayKeys, rotateRelayKeys } from '../src/info/relay-keys.ts'

const nowMs = 1_795_000_000_000

function keyFile(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'relay-keys-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return join(dir, 'relay-keys.json')
}

t.test(
  'after its first key is rotated out, the signed key set still names the key of the relay id',
  async (t) => {
    const file = keyFile(t)
    const first = loadOrCreateRelayKeys(file, nowMs)
    const [firstKey] = first.keySet.keySet.keys
    const firstBytes = webhookPublicKeyBytes(firstKey?.publicKey ?? '')
    t.equal(firstBytes && deriveRelayId(firstBytes), first.relayId, 'a new relay id comes from its only key')

    const rotating = rotateRelayKeys(file, nowMs + 1000)
    t.match(rotating.keySet.keySet, {
      relayId: first.relayId,
      serial: 2,
      keys: [{ kid: firstKey?.kid, status: 'retiring' }, { status: 'active' }],
    })
    t.notOk(
      'origin' in rotating.keySet.keySet,
      'while the key of the relay id is in the set, the set has no origin: nodes that predate it read it',
    )
    t.equal(rotating.signingKeys.length, 2, 'webhooks are signed with both keys while nodes catch up')

    const rotated = rotateRelayKeys(file, nowMs + 2000)
    const keys = rotated.keySet.keySet.keys
    t.notOk(
      keys.some((key) => key.publicKey === firstKey?.publicKey),
      'the first key has left the set',
    )
    t.equal(rotated.keySet.keySet.serial, 3)
    t.equal(rotated.keySet.keySet.origin, firstKey?.publicKey, 'the set still says which key names the relay')
    t.equal(relayIdKey(rotated.keySet.keySet), firstKey?.publicKey)
    t.same(loadOrCreateRelayKeys(file, nowMs + 3000).keySet, rotated.keySet, 'the file keeps the rotated set')

    // A node that pinned the first set follows both rotations, one set at a time or straight to the last.
    const second = verifyKeySetUpdate(rotating.keySet, {
      relayId: first.relayId,
      pinned: first.keySet.keySet,
    })
    t.ok(second.ok)
    t.ok(verifyKeySetUpdate(rotated.keySet, { relayId: first.relayId, pinned: rotating.keySet.keySet }).ok)
    t.ok(verifyKeySetUpdate(rotated.keySet, { relayId: first.relayId, pinned: first.keySet.keySet }).ok)
  },
)

t.test('a key set whose origin does not name its relay, or changes it, is refused', async (t) => {
  const file = keyFile(t)
  const first = loadOrCreateRelayKeys(file, nowMs)
  rotateRelayKeys(file, nowMs + 500)
  const rotated = rotateRelayKeys(file, nowMs + 1000)
  const other = loadOrCreateRelayKeys(keyFile(t), nowMs)
  const { keys, relayId } = rotated.keySet.keySet
  // Signed by a genuine key of the relay, so only the origin is wrong.
  const secret = Buffer.from(rotated.signingKeys[1]?.slice('whsk_'.length) ?? '', 'base64')
  const wrongOrigin = signKeySet(
    {
      v: 1,
      relayId,
      serial: 4,
      issuedAt: nowMs + 2000,
      origin: other.keySet.keySet.keys[0]?.publicKey,
      keys,
    },
    [{ kid: keys[1]?.kid ?? '', secretKey: secret }],
  )
  t.match(verifyKeySetUpdate(wrongOrigin, { relayId, pinned: rotated.keySet.keySet }), {
    ok: false,
    code: 'E_KEYSET_UNTRUSTED',
    reason: /origin/,
  })
  t.match(verifyKeySetUpdate(wrongOrigin, { relayId, pinned: undefined }), {
    ok: false,
    code: 'E_KEYSET_UNTRUSTED',
  })
  const dropped = signKeySet({ v: 1, relayId, serial: 4, issuedAt: nowMs + 2000, keys }, [
    { kid: keys[1]?.kid ?? '', secretKey: secret },
  ])
  t.match(
    verifyKeySetUpdate(dropped, { relayId, pinned: rotated.keySet.keySet }),
    { ok: false, code: 'E_KEYSET_UNTRUSTED' },
    'a pinned origin cannot be dropped',
  )
  t.ok(
    verifyKeySetUpdate(rotated.keySet, { relayId: first.relayId, pinned: first.keySet.keySet }).ok,
    'the genuine rotation still passes',
  )
})

t.test('a key set in which no key derives the relay id is refused, at first pinning too', async (t) => {
  const relay = loadOrCreateRelayKeys(keyFile(t), nowMs)
  const other = loadOrCreateRelayKeys(keyFile(t), nowMs)
  const [otherKey] = other.keySet.keySet.keys
  const otherSecret = Buffer.from(other.signingKeys[0]?.slice('whsk_'.length) ?? '', 'base64')
  // Signed by its own (only) key, which is not the relay's: a relay, or someone on the path to it,
  // announcing a relay id it holds no key of.
  const foreign = signKeySet(
    {
      v: 1,
      relayId: relay.relayId,
      serial: 2,
      issuedAt: nowMs,
      keys: [{ kid: otherKey?.kid ?? '', publicKey: otherKey?.publicKey ?? '', status: 'active' }],
    },
    [{ kid: otherKey?.kid ?? '', secretKey: otherSecret }],
  )
  t.match(verifyKeySetUpdate(foreign, { relayId: relay.relayId, pinned: undefined }), {
    ok: false,
    code: 'E_KEYSET_UNTRUSTED',
    reason: 'blocked: no key of the key set derives its relay id',
  })
  t.ok(
    verifyKeySetUpdate(relay.keySet, { relayId: relay.relayId, pinned: undefined }).ok,
    'the genuine set pins',
  )
})

t.test('a rotation replaces the key file whole, mode 0600, leaving no other file', async (t) => {
  const file = keyFile(t)
  loadOrCreateRelayKeys(file, nowMs)
  const rotated = rotateRelayKeys(file, nowMs + 1000)
  t.same(readdirSync(dirname(file)), ['relay-keys.json'], 'no temporary file is left beside it')
  t.equal(statSync(file).mode & 0o777, 0o600, 'only the relay may read it')
  t.same(loadOrCreateRelayKeys(file, nowMs + 2000), rotated)
})

t.test('a key file that is not one stops the relay with its name', async (t) => {
  const file = keyFile(t)
  writeFileSync(file, '{"relayId":"rl_aaaaaaaaaaaaaaaaaaaaaaaaaa","keySet":{},"secrets":[]}')
  const failure = (() => {
    try {
      loadOrCreateRelayKeys(file, nowMs)
    } catch (error) {
      return (error as Error).message
    }
  })()
  t.ok(failure?.startsWith(`${file}: not a relay key file: keySet.`), String(failure))
  writeFileSync(file, '{"relayId": ')
  t.throws(() => loadOrCreateRelayKeys(file, nowMs), {
    message: /relay-keys\.json: the relay key file is not JSON/,
  })
})
