// PROTOCOL.md §4: envelopes sealed with nacl.box and signed by the sender.
import { randomBytes } from 'node:crypto'
import t from 'tap'
import nacl from 'tweetnacl'
import { signDetached } from '../src/crypto/ed25519.ts'
import { envelopeSigningInput, openEnvelope, PeerBoxKeys, sealEnvelope } from '../src/crypto/envelope.ts'
import { newId } from '../src/crypto/ids.ts'
import { toBase64Url } from '../src/encoding.ts'
import type { Envelope } from '../src/schemas/envelope.ts'
import { buildEnvelope, buildInstance, buildPayload, flipBit, type TestInstance } from './factories.ts'

const alice = buildInstance()
const bob = buildInstance()

function open(envelope: unknown, recipient: TestInstance = bob, sender: TestInstance = alice) {
  return openEnvelope({
    envelope,
    recipientInstanceId: recipient.instanceId,
    senderInstanceId: sender.instanceId,
    senderIdentityKey: sender.identity.publicKey,
    senderEncryptionKey: sender.encryption.publicKey,
    boxKeys: recipient.boxKeys,
  })
}

t.test('a sealed envelope opens to the same payload, and the relay sees only the header', async (t) => {
  const envelope = buildEnvelope(alice, bob, { html: '<p>Secret price: 4,200 EUR</p>' })
  const opened = open(envelope)
  t.ok(opened.ok)
  if (!opened.ok) return
  t.equal(opened.value.payload.html, '<p>Secret price: 4,200 EUR</p>')
  t.equal(opened.value.payload.envelopeId, envelope.header.id)
  t.notMatch(JSON.stringify(envelope), /Secret price/, 'no plaintext on the wire')
  t.same(Object.keys(envelope.header).sort(), ['createdAt', 'from', 'id', 'nonce', 'to', 'v'])
})

t.test('the shared key cache gives the same result as a fresh computation', async (t) => {
  const envelope = buildEnvelope(alice, bob)
  const fresh = openEnvelope({
    envelope,
    recipientInstanceId: bob.instanceId,
    senderInstanceId: alice.instanceId,
    senderIdentityKey: alice.identity.publicKey,
    senderEncryptionKey: alice.encryption.publicKey,
    boxKeys: new PeerBoxKeys(bob.encryption.secretKey),
  })
  t.ok(fresh.ok)
  t.ok(open(envelope).ok)
})

function tampered(mutate: (envelope: Envelope) => Envelope) {
  return open(mutate(structuredClone(buildEnvelope(alice, bob))))
}

t.test('every flipped bit is rejected with a typed reason', async (t) => {
  const cases: [string, (e: Envelope) => Envelope, string][] = [
    [
      'header id',
      (e) => ({
        ...e,
        header: { ...e.header, id: e.header.id.replace(/.$/, (c) => (c === '0' ? '1' : '0')) },
      }),
      'E_ENVELOPE_BAD_SIGNATURE',
    ],
    [
      'header createdAt',
      (e) => ({ ...e, header: { ...e.header, createdAt: e.header.createdAt ^ 1 } }),
      'E_ENVELOPE_BAD_SIGNATURE',
    ],
    [
      'nonce',
      (e) => ({ ...e, header: { ...e.header, nonce: flipBit(e.header.nonce, 9) } }),
      'E_ENVELOPE_BAD_SIGNATURE',
    ],
    ['ciphertext', (e) => ({ ...e, ciphertext: flipBit(e.ciphertext, 100) }), 'E_ENVELOPE_BAD_SIGNATURE'],
    ['signature', (e) => ({ ...e, signature: flipBit(e.signature, 3) }), 'E_ENVELOPE_BAD_SIGNATURE'],
  ]
  for (const [what, mutate, code] of cases) {
    const result = tampered(mutate)
    t.equal(result.ok, false, what)
    if (!result.ok) {
      t.equal(result.code, code, `${what}: ${result.reason}`)
      t.match(result.reason, /^invalid: /)
    }
  }
})

t.test('a key other than the pinned one is refused before decryption', async (t) => {
  const mallory = buildInstance()
  const forged = buildEnvelope(mallory, bob)
  const result = open({ ...forged, header: { ...forged.header, from: alice.instanceId } })
  t.match(result, { ok: false, code: 'E_ENVELOPE_BAD_SIGNATURE' })
})

t.test('the wrong recipient key cannot open it', async (t) => {
  const carol = buildInstance()
  const envelope = buildEnvelope(alice, bob)
  const asCarol = openEnvelope({
    envelope: { ...envelope },
    recipientInstanceId: bob.instanceId,
    senderInstanceId: alice.instanceId, // carol pretends to be bob but holds her own secret key
    senderIdentityKey: alice.identity.publicKey,
    senderEncryptionKey: alice.encryption.publicKey,
    boxKeys: carol.boxKeys,
  })
  t.match(asCarol, { ok: false, code: 'E_ENVELOPE_UNDECRYPTABLE' })
  t.match(
    open(envelope, carol),
    { ok: false, code: 'E_ENVELOPE_WRONG_RECIPIENT' },
    'addressed to bob, not carol',
  )
})

t.test('malformed input is a value, not an exception', async (t) => {
  for (const input of [null, 'text', {}, { header: {}, ciphertext: '', signature: '' }, [], 42]) {
    t.match(open(input), { ok: false, code: 'E_ENVELOPE_MALFORMED' })
  }
  const envelope = buildEnvelope(alice, bob)
  t.match(open({ ...envelope, extra: 1 }), { ok: false, code: 'E_ENVELOPE_MALFORMED' }, 'unknown field')
  t.match(open({ ...envelope, header: { ...envelope.header, v: 2 } }), {
    ok: false,
    reason: /unsupported protocol version 2/,
  })
})

/** Seals arbitrary plaintext under a valid header and signature, to test what happens after decryption. */
function sealRaw(plaintext: Uint8Array, headerId = newId()): Envelope {
  const nonce = randomBytes(24)
  const header = {
    v: 1 as const,
    id: headerId,
    from: alice.instanceId,
    to: bob.instanceId,
    createdAt: 1,
    nonce: toBase64Url(nonce),
  }
  const ciphertext = nacl.box.after(plaintext, nonce, alice.boxKeys.sharedKey(bob.encryption.publicKey))
  const signature = signDetached(envelopeSigningInput(header, ciphertext), alice.identity.secretKey)
  return { header, ciphertext: toBase64Url(ciphertext), signature: toBase64Url(signature) }
}

t.test('a payload cannot be lifted into another envelope', async (t) => {
  const payload = buildPayload()
  const lifted = sealRaw(new TextEncoder().encode(JSON.stringify(payload)))
  t.match(open(lifted), { ok: false, code: 'E_PAYLOAD_MALFORMED', reason: /another envelope/ })
  t.throws(
    () =>
      sealEnvelope({
        header: { id: newId(), from: alice.instanceId, to: bob.instanceId, createdAt: 1 },
        payload,
        senderIdentitySecretKey: alice.identity.secretKey,
        boxKeys: alice.boxKeys,
        recipientEncryptionKey: bob.encryption.publicKey,
      }),
    RangeError,
    'and our own sealer refuses to build one',
  )
})

t.test('a decrypted payload that is not valid is refused with the field at fault', async (t) => {
  t.match(open(sealRaw(new Uint8Array([0xff, 0xfe]))), {
    ok: false,
    code: 'E_PAYLOAD_MALFORMED',
    reason: /UTF-8 JSON/,
  })
  const id = newId()
  const badHtml = { ...buildPayload({ envelopeId: id }), html: 'x'.repeat(100_001) }
  t.match(open(sealRaw(new TextEncoder().encode(JSON.stringify(badHtml)), id)), {
    ok: false,
    code: 'E_PAYLOAD_MALFORMED',
    reason: /payload html/,
  })
  const unknownField = { ...buildPayload({ envelopeId: id }), script: 'alert(1)' }
  t.match(open(sealRaw(new TextEncoder().encode(JSON.stringify(unknownField)), id)), {
    ok: false,
    code: 'E_PAYLOAD_MALFORMED',
  })
})

t.test(
  'attachments are declared in the header, so the relay can grant downloads, and must match',
  async (t) => {
    const file = {
      blobId: newId(),
      name: 'po.pdf',
      type: 'application/pdf',
      size: 10,
      key: 'A'.repeat(43),
      sha256: 'A'.repeat(43),
    }
    const envelope = buildEnvelope(alice, bob, { attachments: [file] })
    t.same(envelope.header.blobs, [file.blobId])
    t.match(open(envelope), { ok: true })
    const id = newId()
    const payload = buildPayload({ envelopeId: id, attachments: [file] })
    const undeclared = sealRaw(new TextEncoder().encode(JSON.stringify(payload)), id)
    t.match(open(undeclared), { ok: false, code: 'E_PAYLOAD_MALFORMED', reason: /blobs do not match/ })
  },
)

t.test('an envelope claiming another sender than the connection peer is refused', async (t) => {
  const carol = buildInstance()
  const fromAlice = buildEnvelope(alice, bob)
  // Delivered on the bob–carol connection: the pinned key would be carol's, the claim is alice's.
  t.match(open(fromAlice, bob, carol), { ok: false, code: 'E_ENVELOPE_WRONG_SENDER' })
})
