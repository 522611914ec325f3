// PROTOCOL.md §1 (registration, rotation, relay key sets), §5.1 (receipts), §6.1 (socket auth).
import t from 'tap'
import { generateIdentityKeyPair } from '../src/crypto/ed25519.ts'
import { deriveInstanceId, deriveRelayId, newId } from '../src/crypto/ids.ts'
import {
  signKeyRotation,
  signKeySet,
  signReceipt,
  signRegistration,
  signSocketAuth,
  verifyKeyRotation,
  verifyKeySetUpdate,
  verifyReceipt,
  verifyRegistration,
  verifySocketAuth,
} from '../src/crypto/structures.ts'
import { webhookKeyPairFromSeed } from '../src/crypto/webhook.ts'
import { toBase64Url } from '../src/encoding.ts'
import type { RelayKeySet } from '../src/schemas/identity.ts'
import type { Receipt } from '../src/schemas/payload.ts'
import { buildInstance, flipBit } from './factories.ts'

const alice = buildInstance()
const bob = buildInstance()
const now = 1_795_000_000_000
const relaySeed = new Uint8Array(32).fill(9)
const relayId = deriveRelayId(Buffer.from(webhookKeyPairFromSeed(relaySeed).publicKey.slice(5), 'base64'))

t.test('receipts', async (t) => {
  const receipt: Receipt = {
    v: 1,
    id: newId(),
    kind: 'read',
    from: bob.instanceId,
    to: alice.instanceId,
    envelopeIds: [newId(), newId()],
    at: now,
  }
  const signed = signReceipt(receipt, bob.identity.secretKey)
  const fromBob = { from: bob.instanceId, to: alice.instanceId, signerIdentityKey: bob.identity.publicKey }
  t.match(verifyReceipt(signed, fromBob), { ok: true })
  t.match(
    verifyReceipt(signed, { ...fromBob, signerIdentityKey: alice.identity.publicKey }),
    { ok: false, code: 'E_RECEIPT_BAD_SIGNATURE' },
    'the relay or the sender cannot forge one',
  )
  const moreIds = { ...signed, receipt: { ...receipt, envelopeIds: [...receipt.envelopeIds, newId()] } }
  t.match(verifyReceipt(moreIds, fromBob), { ok: false, code: 'E_RECEIPT_BAD_SIGNATURE' }, 'ids added')
  const delivered = { ...signed, receipt: { ...receipt, kind: 'delivered' } }
  t.match(verifyReceipt(delivered, fromBob), { ok: false, code: 'E_RECEIPT_BAD_SIGNATURE' }, 'kind changed')
  const repeated = {
    ...signed,
    receipt: { ...receipt, envelopeIds: [receipt.envelopeIds[0], receipt.envelopeIds[0]] },
  }
  t.match(verifyReceipt(repeated, fromBob), {
    ok: false,
    code: 'E_RECEIPT_MALFORMED',
    reason: /repeat/,
  })
  const tooMany = {
    ...signed,
    receipt: { ...receipt, envelopeIds: Array.from({ length: 1001 }, () => newId()) },
  }
  t.match(verifyReceipt(tooMany, fromBob), { ok: false, code: 'E_RECEIPT_MALFORMED' })
})

t.test('registration proves the identity key and derives the instance id', async (t) => {
  const registration = { v: 1 as const, relayId, name: 'Acme', keys: alice.keys, at: now }
  const signed = signRegistration(registration, alice.identity.secretKey)
  t.same(verifyRegistration(signed, { relayId, nowMs: now }), {
    ok: true,
    value: { instanceId: alice.instanceId, registration },
  })
  t.equal(alice.instanceId, deriveInstanceId(alice.identity.publicKey))
  t.match(verifyRegistration(signed, { relayId: 'rl_bbbbbbbbbbbbbbbbbbbbbbbbbb', nowMs: now }), {
    ok: false,
    code: 'E_REGISTRATION_WRONG_RELAY',
  })
  t.match(verifyRegistration(signed, { relayId, nowMs: now + 301_000 }), {
    ok: false,
    code: 'E_REGISTRATION_STALE',
  })
  const swappedEncryption = {
    ...signed,
    registration: { ...registration, keys: { ...alice.keys, encryptionKey: bob.keys.encryptionKey } },
  }
  t.match(
    verifyRegistration(swappedEncryption, { relayId, nowMs: now }),
    { ok: false, code: 'E_REGISTRATION_BAD_SIGNATURE' },
    'the encryption key is bound',
  )
  const someoneElses = { ...signed, registration: { ...registration, keys: bob.keys } }
  t.match(
    verifyRegistration(someoneElses, { relayId, nowMs: now }),
    { ok: false, code: 'E_REGISTRATION_BAD_SIGNATURE' },
    'no proof of possession',
  )
  t.match(
    verifyRegistration(
      { ...signed, registration: { ...registration, admin: true } },
      { relayId, nowMs: now },
    ),
    {
      ok: false,
      code: 'E_REGISTRATION_MALFORMED',
      reason: /admin/,
    },
  )
  t.match(
    verifyRegistration({ ...signed, registration: { ...registration, v: 2 } }, { relayId, nowMs: now }),
    {
      ok: false,
      reason: /unsupported protocol version 2/,
    },
  )
  t.match(
    verifyRegistration(
      { ...signed, registration: { ...registration, name: 'x'.repeat(201) } },
      { relayId, nowMs: now },
    ),
    {
      ok: false,
      code: 'E_REGISTRATION_MALFORMED',
      reason: /name/,
    },
  )
})

t.test('key rotation needs the current key and the new one', async (t) => {
  const nextIdentity = generateIdentityKeyPair()
  const rotation = {
    v: 1 as const,
    relayId,
    instanceId: alice.instanceId,
    previousIdentityKey: alice.keys.identityKey,
    keys: { identityKey: toBase64Url(nextIdentity.publicKey), encryptionKey: bob.keys.encryptionKey },
    at: now,
  }
  const expected = {
    relayId,
    instanceId: alice.instanceId,
    currentIdentityKey: alice.identity.publicKey,
    nowMs: now,
  }
  const signed = signKeyRotation(rotation, {
    previousSecretKey: alice.identity.secretKey,
    newSecretKey: nextIdentity.secretKey,
  })
  t.match(verifyKeyRotation(signed, expected), { ok: true })
  const stolenNewKeyOnly = signKeyRotation(rotation, {
    previousSecretKey: nextIdentity.secretKey,
    newSecretKey: nextIdentity.secretKey,
  })
  t.match(verifyKeyRotation(stolenNewKeyOnly, expected), { ok: false, code: 'E_ROTATION_BAD_SIGNATURE' })
  const noProof = signKeyRotation(rotation, {
    previousSecretKey: alice.identity.secretKey,
    newSecretKey: alice.identity.secretKey,
  })
  t.match(verifyKeyRotation(noProof, expected), { ok: false, code: 'E_ROTATION_BAD_SIGNATURE' })
  t.match(verifyKeyRotation(signed, { ...expected, instanceId: bob.instanceId }), {
    ok: false,
    code: 'E_ROTATION_MALFORMED',
  })
  t.match(verifyKeyRotation(signed, { ...expected, nowMs: now - 301_000 }), {
    ok: false,
    code: 'E_ROTATION_STALE',
  })
})

t.test('a relay key set is trusted on first use, then only through a pinned key', async (t) => {
  const first = webhookKeyPairFromSeed(relaySeed)
  const second = webhookKeyPairFromSeed(new Uint8Array(32).fill(10))
  const firstSecret = Buffer.from(first.secretKey.slice(5), 'base64')
  const secondSecret = Buffer.from(second.secretKey.slice(5), 'base64')
  const keySet1: RelayKeySet = {
    v: 1,
    relayId,
    serial: 1,
    issuedAt: now,
    keys: [{ kid: 'k1', publicKey: first.publicKey, status: 'active' }],
  }
  const signed1 = signKeySet(keySet1, [{ kid: 'k1', secretKey: firstSecret }])
  t.match(verifyKeySetUpdate(signed1, { relayId, pinned: undefined }), { ok: true }, 'first use')

  const keySet2: RelayKeySet = {
    ...keySet1,
    serial: 2,
    keys: [
      { kid: 'k1', publicKey: first.publicKey, status: 'retiring' },
      { kid: 'k2', publicKey: second.publicKey, status: 'active' },
    ],
  }
  t.match(
    verifyKeySetUpdate(signKeySet(keySet2, [{ kid: 'k1', secretKey: firstSecret }]), {
      relayId,
      pinned: keySet1,
    }),
    { ok: true },
    'rotation vouched by k1',
  )
  t.match(
    verifyKeySetUpdate(signKeySet(keySet2, [{ kid: 'k2', secretKey: secondSecret }]), {
      relayId,
      pinned: keySet1,
    }),
    {
      ok: false,
      code: 'E_KEYSET_UNTRUSTED',
    },
    'signed only by the new key',
  )
  t.match(
    verifyKeySetUpdate(signKeySet({ ...keySet2, serial: 1 }, [{ kid: 'k1', secretKey: firstSecret }]), {
      relayId,
      pinned: keySet1,
    }),
    {
      ok: false,
      code: 'E_KEYSET_NOT_NEWER',
    },
  )
  const forgedKid = signKeySet(keySet2, [{ kid: 'k1', secretKey: secondSecret }])
  t.match(
    verifyKeySetUpdate(forgedKid, { relayId, pinned: keySet1 }),
    { ok: false, code: 'E_KEYSET_UNTRUSTED' },
    'k2 claiming to be k1',
  )
  t.match(
    verifyKeySetUpdate({ ...signed1, keySet: { ...keySet1, keys: [] } }, { relayId, pinned: undefined }),
    {
      ok: false,
      code: 'E_KEYSET_MALFORMED',
    },
  )
})

t.test('socket auth answers the challenge with the identity key', async (t) => {
  const challenge = toBase64Url(new Uint8Array(32).fill(3))
  const frame = signSocketAuth(
    { relayId, instanceId: alice.instanceId, challenge, at: now },
    alice.identity.secretKey,
  )
  const expected = {
    relayId,
    challenge,
    challengeIssuedAt: now - 1000,
    identityKey: alice.identity.publicKey,
    nowMs: now,
  }
  t.same(verifySocketAuth(frame, expected), { ok: true, value: { instanceId: alice.instanceId } })
  const otherChallenge = toBase64Url(new Uint8Array(32).fill(4))
  t.match(
    verifySocketAuth(frame, { ...expected, challenge: otherChallenge }),
    { ok: false, code: 'E_SOCKET_AUTH_FAILED' },
    'replayed answer',
  )
  t.match(
    verifySocketAuth(frame, { ...expected, identityKey: undefined }),
    { ok: false, code: 'E_SOCKET_AUTH_FAILED' },
    'unknown instance',
  )
  t.match(verifySocketAuth({ ...frame, signature: flipBit(frame.signature) }, expected), {
    ok: false,
    reason: /^auth-required: /,
  })
  t.match(
    verifySocketAuth(frame, { ...expected, nowMs: now + 301_000 }),
    { ok: false, code: 'E_SOCKET_AUTH_FAILED' },
    'stale',
  )
})

t.test(
  'regression: a signed name cannot be changed by adding spaces, and names with spaces are refused',
  async (t) => {
    const registration = { v: 1 as const, relayId, name: 'Acme', keys: alice.keys, at: now }
    const signed = signRegistration(registration, alice.identity.secretKey)
    const padded = { ...signed, registration: { ...registration, name: '  Acme  ' } }
    t.match(verifyRegistration(padded, { relayId, nowMs: now }), {
      ok: false,
      code: 'E_REGISTRATION_MALFORMED',
      reason: /spaces/,
    })
    const signedWithSpace = signRegistration({ ...registration, name: 'Acme ' }, alice.identity.secretKey)
    t.match(verifyRegistration(signedWithSpace, { relayId, nowMs: now }), {
      ok: false,
      code: 'E_REGISTRATION_MALFORMED',
    })
  },
)

t.test(
  'regression: a receipt must come from the expected instance and be addressed to the expected one',
  async (t) => {
    const receipt: Receipt = {
      v: 1,
      id: newId(),
      kind: 'delivered',
      from: bob.instanceId,
      to: alice.instanceId,
      envelopeIds: [newId()],
      at: now,
    }
    const signed = signReceipt(receipt, bob.identity.secretKey)
    const carol = buildInstance()
    t.match(
      verifyReceipt(signed, {
        from: bob.instanceId,
        to: carol.instanceId,
        signerIdentityKey: bob.identity.publicKey,
      }),
      {
        ok: false,
        code: 'E_RECEIPT_MISADDRESSED',
      },
    )
    t.match(
      verifyReceipt(signed, {
        from: carol.instanceId,
        to: alice.instanceId,
        signerIdentityKey: bob.identity.publicKey,
      }),
      {
        ok: false,
        code: 'E_RECEIPT_MISADDRESSED',
      },
    )
  },
)

t.test('regression: a first key set for another relay is refused', async (t) => {
  const key = webhookKeyPairFromSeed(relaySeed)
  const secret = Buffer.from(key.secretKey.slice(5), 'base64')
  const keySet: RelayKeySet = {
    v: 1,
    relayId: 'rl_bbbbbbbbbbbbbbbbbbbbbbbbbb',
    serial: 1,
    issuedAt: now,
    keys: [{ kid: 'k1', publicKey: key.publicKey, status: 'active' }],
  }
  t.match(
    verifyKeySetUpdate(signKeySet(keySet, [{ kid: 'k1', secretKey: secret }]), {
      relayId,
      pinned: undefined,
    }),
    {
      ok: false,
      code: 'E_KEYSET_UNTRUSTED',
    },
  )
})

t.test(
  'regression: a key set holding no key its relay id derives from is refused, first use included',
  async (t) => {
    const genuine = webhookKeyPairFromSeed(relaySeed)
    const genuineSecret = Buffer.from(genuine.secretKey.slice(5), 'base64')
    const stranger = webhookKeyPairFromSeed(new Uint8Array(32).fill(11))
    const strangerSecret = Buffer.from(stranger.secretKey.slice(5), 'base64')
    // The relay id /v1/info announced, vouched for by a key that is not the one it derives from.
    const foreign: RelayKeySet = {
      v: 1,
      relayId,
      serial: 2,
      issuedAt: now,
      keys: [{ kid: 'k9', publicKey: stranger.publicKey, status: 'active' }],
    }
    const signedBy = [{ kid: 'k9', secretKey: strangerSecret }]
    t.match(verifyKeySetUpdate(signKeySet(foreign, signedBy), { relayId, pinned: undefined }), {
      ok: false,
      code: 'E_KEYSET_UNTRUSTED',
      reason: 'blocked: no key of the key set derives its relay id',
    })
    const pinned: RelayKeySet = {
      ...foreign,
      serial: 1,
      keys: [{ kid: 'k1', publicKey: genuine.publicKey, status: 'active' }],
    }
    t.match(
      verifyKeySetUpdate(signKeySet(foreign, [{ kid: 'k1', secretKey: genuineSecret }]), { relayId, pinned }),
      { ok: false, code: 'E_KEYSET_UNTRUSTED' },
      'even signed by the pinned key, a set that drops the key of the relay id without naming it in origin',
    )
    t.match(
      verifyKeySetUpdate(
        signKeySet({ ...foreign, origin: genuine.publicKey }, [{ kid: 'k1', secretKey: genuineSecret }]),
        { relayId, pinned },
      ),
      { ok: true },
      "the same set naming it in origin is the relay's",
    )
  },
)

t.test(
  'regression: socket auth refuses a late answer, and a signature that is not a string, without throwing',
  async (t) => {
    const challenge = toBase64Url(new Uint8Array(32).fill(5))
    const frame = signSocketAuth(
      { relayId, instanceId: alice.instanceId, challenge, at: now },
      alice.identity.secretKey,
    )
    const expected = {
      relayId,
      challenge,
      challengeIssuedAt: now - 31_000,
      identityKey: alice.identity.publicKey,
      nowMs: now,
    }
    t.match(
      verifySocketAuth(frame, expected),
      { ok: false, code: 'E_SOCKET_AUTH_FAILED' },
      'answered after 30 s',
    )
    for (const signature of [undefined, null, 123, {}, ['x']]) {
      t.match(
        verifySocketAuth({ auth: frame.auth, signature }, { ...expected, challengeIssuedAt: now }),
        { ok: false },
        String(signature),
      )
    }
  },
)
