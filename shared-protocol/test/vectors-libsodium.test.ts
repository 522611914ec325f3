// PROTOCOL.md §11: every vector checked with libsodium alone. This file imports nothing from src/:
// it is what another implementation would do, written from PROTOCOL.md.
import { readFile } from 'node:fs/promises'
import sodium from 'libsodium-wrappers-sumo'
import t, { type Test } from 'tap'

await sodium.ready
const v = JSON.parse(await readFile(new URL('../test-vectors.json', import.meta.url), 'utf8'))

const hex = (text: string) => sodium.from_hex(text)
const b64url = (text: string) => sodium.from_base64(text, sodium.base64_variants.URLSAFE_NO_PADDING)
const b64 = (text: string) => sodium.from_base64(text, sodium.base64_variants.ORIGINAL)
const utf8 = (text: string) => sodium.from_string(text)
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}
/** label ‖ 0x00 ‖ bytes, PROTOCOL.md §2.1. */
const labelled = (label: string, ...parts: Uint8Array[]) => concat(utf8(label), new Uint8Array([0]), ...parts)

/** A second, independent canonical JSON: sorted keys, no whitespace, integers only (PROTOCOL.md §2.1). */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, item]) => item !== undefined)
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonical(item)}`).join(',')}}`
  }
  return JSON.stringify(value)
}

t.test('keys derive from their seeds', async (t) => {
  for (const side of [v.keys.alice, v.keys.bob]) {
    const identity = sodium.crypto_sign_seed_keypair(hex(side.identitySeed))
    t.same(identity.publicKey, b64url(side.identityPublicKey), `${side.name} identity key`)
    t.same(
      sodium.crypto_scalarmult_base(hex(side.encryptionSecretKey)),
      b64url(side.encryptionPublicKey),
      `${side.name} X25519 key`,
    )
    const id = sodium
      .crypto_hash_sha256(concat(utf8('ochat/instance-id/v1'), identity.publicKey))
      .slice(0, 16)
    t.equal(side.instanceId, `oc_${base32(id)}`, `${side.name} instance id`)
  }
})

function base32(bytes: Uint8Array): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
  let bits = ''
  for (const byte of bytes) bits += byte.toString(2).padStart(8, '0')
  let out = ''
  for (let at = 0; at < bits.length; at += 5)
    out += alphabet[Number.parseInt(bits.slice(at, at + 5).padEnd(5, '0'), 2)]
  return out
}

t.test('canonical JSON', async (t) => {
  for (const { value, canonical: expected } of v.canonical) t.equal(canonical(value), expected)
})

t.test(
  'envelope: signature over the canonical header and ciphertext, then crypto_box_open_easy',
  async (t) => {
    const { envelope, payload, plaintext } = v.envelope
    const header = utf8(canonical(envelope.header))
    const length = new Uint8Array(4)
    new DataView(length.buffer).setUint32(0, header.length)
    const ciphertext = b64url(envelope.ciphertext)
    const signingInput = labelled('ochat/envelope/v1', length, header, ciphertext)
    t.equal(sodium.to_hex(signingInput), v.envelope.signingInput)
    t.ok(
      sodium.crypto_sign_verify_detached(
        b64url(envelope.signature),
        signingInput,
        b64url(v.keys.alice.identityPublicKey),
      ),
    )
    const opened = sodium.crypto_box_open_easy(
      ciphertext,
      b64url(envelope.header.nonce),
      b64url(v.keys.alice.encryptionPublicKey),
      hex(v.keys.bob.encryptionSecretKey),
    )
    t.equal(sodium.to_string(opened), plaintext)
    t.same(JSON.parse(plaintext), payload)
  },
)

t.test('receipt signature', async (t) => {
  const { receipt, signature } = v.receipt.signed
  const input = labelled('ochat/receipt/v1', utf8(canonical(receipt)))
  t.equal(sodium.to_hex(input), v.receipt.signingInput)
  t.ok(sodium.crypto_sign_verify_detached(b64url(signature), input, b64url(v.keys.bob.identityPublicKey)))
})

/** The raw 32-byte key of a Standard Webhooks "whpk_" public key (PROTOCOL.md §1.1). */
const whpk = (key: string) => b64(key.slice('whpk_'.length))

/** Checks that `signingInput` is label ‖ 0x00 ‖ canonical(value), and that `signature` verifies under `key`. */
function checkSigned(
  t: Test,
  vector: { signingInput: string },
  label: string,
  value: unknown,
  signature: string,
  key: Uint8Array,
) {
  const input = labelled(label, utf8(canonical(value)))
  t.equal(sodium.to_hex(input), vector.signingInput, `${label} signing input`)
  t.ok(sodium.crypto_sign_verify_detached(b64url(signature), input, key), `${label} signature`)
}

t.test('registration: signed by the identity key it registers', async (t) => {
  const { registration, signature } = v.registration.signed
  t.equal(registration.keys.identityKey, v.keys.alice.identityPublicKey)
  t.equal(registration.relayId, v.keys.relay.relayId)
  checkSigned(
    t,
    v.registration,
    'ochat/registration/v1',
    registration,
    signature,
    b64url(registration.keys.identityKey),
  )
})

t.test('key rotation: signed by the previous and by the new identity key', async (t) => {
  const { rotation, signature, newKeySignature } = v.keyRotation.signed
  const next = v.keyRotation.newKeys
  t.same(sodium.crypto_sign_seed_keypair(hex(next.identitySeed)).publicKey, b64url(next.identityPublicKey))
  t.same(rotation.keys, { identityKey: next.identityPublicKey, encryptionKey: next.encryptionPublicKey })
  t.equal(rotation.instanceId, v.keys.alice.instanceId, 'the instance id does not change')
  t.equal(rotation.previousIdentityKey, v.keys.alice.identityPublicKey)
  checkSigned(
    t,
    v.keyRotation,
    'ochat/key-rotation/v1',
    rotation,
    signature,
    b64url(rotation.previousIdentityKey),
  )
  checkSigned(
    t,
    v.keyRotation,
    'ochat/key-rotation/v1',
    rotation,
    newKeySignature,
    b64url(next.identityPublicKey),
  )
})

t.test(
  'relay key set: each signature under the key of its kid; a key of it derives the relay id',
  async (t) => {
    const { keySet, signatures } = v.keySet.signed
    t.equal(signatures.length, 2)
    for (const { kid, signature } of signatures) {
      const key = keySet.keys.find((candidate: { kid: string }) => candidate.kid === kid)
      checkSigned(t, v.keySet, 'ochat/key-set/v1', keySet, signature, whpk(key.publicKey))
    }
    // The key of the relay id is `origin` once it has left `keys`; mid-rotation it is still one of `keys`.
    const relayIdOf = (key: string) =>
      `rl_${base32(sodium.crypto_hash_sha256(concat(utf8('ochat/relay-id/v1'), whpk(key))).slice(0, 16))}`
    t.equal(keySet.origin, undefined, 'no origin while the key of the relay id is in the set')
    const naming = keySet.keys.filter(
      (key: { publicKey: string }) => relayIdOf(key.publicKey) === keySet.relayId,
    )
    t.same(
      naming.map((key: { publicKey: string }) => key.publicKey),
      [v.keys.relay.publicKey],
    )
  },
)

t.test('socket auth: the challenge answered, signed by the identity key', async (t) => {
  const { challenge, frame } = v.socketAuth
  t.equal(frame.type, 'auth')
  t.same(
    { relayId: frame.auth.relayId, challenge: frame.auth.challenge },
    { relayId: challenge.relayId, challenge: challenge.challenge },
  )
  t.equal(b64url(challenge.challenge).length, 32)
  checkSigned(
    t,
    v.socketAuth,
    'ochat/socket-auth/v1',
    frame.auth,
    frame.signature,
    b64url(v.keys.alice.identityPublicKey),
  )
})

t.test('signed request', async (t) => {
  const r = v.signedRequest
  const bodySha256 = sodium.to_base64(
    sodium.crypto_hash_sha256(utf8(r.body)),
    sodium.base64_variants.URLSAFE_NO_PADDING,
  )
  const input = {
    v: 1,
    method: r.method,
    path: r.path,
    audience: r.audience,
    instanceId: r.headers['ochat-instance'],
    timestamp: Number(r.headers['ochat-timestamp']),
    nonce: r.headers['ochat-nonce'],
    bodySha256,
  }
  t.equal(canonical(input), r.canonicalInput)
  const message = labelled('ochat/request/v1', utf8(canonical(input)))
  t.ok(
    sodium.crypto_sign_verify_detached(
      b64url(r.headers['ochat-signature']),
      message,
      b64url(v.keys.alice.identityPublicKey),
    ),
  )
})

t.test('webhook: Standard Webhooks v1a, two signatures during rotation', async (t) => {
  const w = v.webhook
  const content = utf8(`${w.headers['webhook-id']}.${w.headers['webhook-timestamp']}.${w.body}`)
  t.equal(sodium.to_string(content), w.signedContent)
  const signatures: string[] = w.headers['webhook-signature'].split(' ')
  t.equal(signatures.length, 2)
  for (const [index, key] of [v.keys.relay.publicKey, v.keys.relayNext.publicKey].entries()) {
    const entry = signatures[index] ?? ''
    t.ok(entry.startsWith('v1a,'))
    t.ok(
      sodium.crypto_sign_verify_detached(b64(entry.slice(4)), content, b64(key.slice(5))),
      `signature ${index + 1}`,
    )
  }
})

t.test('safety code', async (t) => {
  const side = (keys: { identityPublicKey: string; encryptionPublicKey: string; instanceId: string }) => {
    const identity = b64url(keys.identityPublicKey)
    let digest = sodium.crypto_hash_sha512(
      concat(new Uint8Array([0, 0]), identity, b64url(keys.encryptionPublicKey), utf8(keys.instanceId)),
    )
    for (let round = 0; round < 5200; round++) digest = sodium.crypto_hash_sha512(concat(digest, identity))
    let digits = ''
    for (let chunk = 0; chunk < 6; chunk++) {
      let value = 0
      for (const byte of digest.slice(chunk * 5, chunk * 5 + 5)) value = value * 256 + byte
      digits += String(value % 100000).padStart(5, '0')
    }
    return digits
  }
  const digits = [side(v.keys.alice), side(v.keys.bob)].sort().join('')
  t.equal(digits, v.safetyCode.digits)
})

t.test('attachment stream: crypto_aead_chacha20poly1305_ietf_decrypt, chunk by chunk', async (t) => {
  const a = v.attachment
  const stream = hex(a.ciphertext)
  const header = stream.slice(0, 8)
  t.equal(sodium.to_string(header.slice(0, 4)), 'OCA1')
  const chunkBytes = new DataView(header.buffer, header.byteOffset).getUint32(4)
  t.equal(chunkBytes, a.chunkBytes)
  const sealedBytes = chunkBytes + 16
  const parts: Uint8Array[] = []
  let index = 0
  for (let offset = 8; offset < stream.length; offset += sealedBytes, index++) {
    const sealed = stream.slice(offset, offset + sealedBytes)
    const final = offset + sealedBytes >= stream.length
    const nonce = new Uint8Array(12)
    new DataView(nonce.buffer).setBigUint64(3, BigInt(index))
    nonce[11] = final ? 1 : 0
    parts.push(sodium.crypto_aead_chacha20poly1305_ietf_decrypt(null, sealed, header, nonce, hex(a.key)))
  }
  t.equal(index, 3)
  const plaintext = concat(...parts)
  t.equal(sodium.to_hex(plaintext), a.plaintext)
  t.equal(
    sodium.to_base64(sodium.crypto_hash_sha256(plaintext), sodium.base64_variants.URLSAFE_NO_PADDING),
    a.sha256,
  )
})
