import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import { pipeline } from 'node:stream/promises'
import { canonicalJson } from './canonical.ts'
import { AttachmentEncryptor } from './crypto/attachment-stream.ts'
import { identityKeyPairFromSeed } from './crypto/ed25519.ts'
import {
  encryptionKeyPairFromSecret,
  envelopeSigningInput,
  PeerBoxKeys,
  sealEnvelope,
} from './crypto/envelope.ts'
import { deriveInstanceId, deriveRelayId } from './crypto/ids.ts'
import { safetyCode } from './crypto/safety-code.ts'
import { requestSigningInput, sha256Base64Url, signRequest } from './crypto/signed-request.ts'
import { labelled, SIGNING_LABELS } from './crypto/signing.ts'
import {
  signKeyRotation,
  signKeySet,
  signReceipt,
  signRegistration,
  signSocketAuth,
} from './crypto/structures.ts'
import { signWebhook, webhookKeyPairFromSeed } from './crypto/webhook.ts'
import { fromBase64, fromBase64Url, toBase64Url } from './encoding.ts'
import type { KeyRotation, Registration, RelayKeySet } from './schemas/identity.ts'
import type { MessagePayload, Receipt } from './schemas/payload.ts'

/**
 * Builds the test vectors of PROTOCOL.md from fixed seeds, nonces and times, so the output is the same
 * on every run. `pnpm vectors` writes them to test-vectors.json; a test checks the file is current, and
 * another checks every vector with libsodium alone.
 */

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')
const seed = (label: string) =>
  new Uint8Array(createHash('sha256').update(`ochat test vector: ${label}`).digest())
const fromB64 = (text: string) => fromBase64Url(text) ?? new Uint8Array()
/** The 64 secret bytes of a "whsk_" key. */
const whskBytes = (whsk: string) => fromBase64(whsk.slice('whsk_'.length)) ?? new Uint8Array()
/** label ‖ 0x00 ‖ canonical JSON of `value`, in hex: what a signature of that structure covers. */
const signingInputHex = (label: (typeof SIGNING_LABELS)[keyof typeof SIGNING_LABELS], value: unknown) =>
  hex(labelled(label, new TextEncoder().encode(canonicalJson(value))))

function instance(name: string) {
  const identity = identityKeyPairFromSeed(seed(`${name} identity`))
  const encryption = encryptionKeyPairFromSecret(seed(`${name} encryption`))
  return {
    name,
    instanceId: deriveInstanceId(identity.publicKey),
    identitySeed: hex(seed(`${name} identity`)),
    identityPublicKey: toBase64Url(identity.publicKey),
    encryptionSecretKey: hex(encryption.secretKey),
    encryptionPublicKey: toBase64Url(encryption.publicKey),
    identity,
    encryption,
  }
}

export async function buildVectors() {
  const alice = instance('alice')
  const bob = instance('bob')
  const relayKeys = webhookKeyPairFromSeed(seed('relay signing'))
  const relayNextKeys = webhookKeyPairFromSeed(seed('relay signing, next'))
  const relayId = deriveRelayId(identityKeyPairFromSeed(seed('relay signing')).publicKey)
  const at = 1_795_000_000_000 // 2026-11-18T09:46:40Z, in ms

  const canonical = [
    { b: 2, a: 1 },
    { z: [3, 'é', { y: null, x: true }], a: { é: 'accent', e: 'plain', B: 'upper' } },
    { text: 'quote " backslash \\ newline \n tab \t control \u0001 emoji 😀' },
  ].map((value) => ({ value, canonical: canonicalJson(value) }))

  const envelopeId = '019a9a2c-6c00-7000-8000-000000000001'
  const payload: MessagePayload = {
    v: 1,
    type: 'message',
    envelopeId,
    sentAt: at,
    sender: { name: 'Alice Martin', company: 'Acme' },
    html: '<p>Hello <strong>Globex</strong>, the PO is attached.</p>',
    attachments: [],
    record: { model: 'purchase.order', id: 'PO-0042', name: 'PO-0042 Widgets' },
  }
  const nonce = seed('envelope nonce').subarray(0, 24)
  const envelope = sealEnvelope({
    header: { id: envelopeId, from: alice.instanceId, to: bob.instanceId, createdAt: at },
    payload,
    senderIdentitySecretKey: alice.identity.secretKey,
    boxKeys: new PeerBoxKeys(alice.encryption.secretKey),
    recipientEncryptionKey: bob.encryption.publicKey,
    nonce,
  })

  const receipt: Receipt = {
    v: 1,
    id: '019a9a2c-6c00-7000-8000-000000000002',
    kind: 'delivered',
    from: bob.instanceId,
    to: alice.instanceId,
    envelopeIds: [envelopeId],
    at: at + 1000,
  }
  const signedReceipt = signReceipt(receipt, bob.identity.secretKey)

  const requestBody = JSON.stringify({ envelopes: [envelope] })
  const requestNonce = seed('request nonce').subarray(0, 16)
  const requestHeaders = signRequest({
    method: 'POST',
    path: '/v1/envelopes',
    audience: relayId,
    instanceId: alice.instanceId,
    identitySecretKey: alice.identity.secretKey,
    body: requestBody,
    timestamp: at / 1000,
    nonce: requestNonce,
  })
  const requestInput = {
    v: 1 as const,
    method: 'POST',
    path: '/v1/envelopes',
    audience: relayId,
    instanceId: alice.instanceId,
    timestamp: at / 1000,
    nonce: toBase64Url(requestNonce),
    bodySha256: sha256Base64Url(requestBody),
  }

  const webhookBody = JSON.stringify({
    v: 1,
    items: [{ type: 'receipt', id: receipt.id, receipt: signedReceipt }],
  })
  const webhookId = 'msg_019a9a2c6c007000800000000003'
  const webhookHeaders = signWebhook({
    id: webhookId,
    timestamp: at / 1000,
    body: webhookBody,
    secretKeys: [relayKeys.secretKey, relayNextKeys.secretKey],
  })

  const code = safetyCode(
    {
      instanceId: alice.instanceId,
      keys: { identityKey: alice.identityPublicKey, encryptionKey: alice.encryptionPublicKey },
    },
    {
      instanceId: bob.instanceId,
      keys: { identityKey: bob.identityPublicKey, encryptionKey: bob.encryptionPublicKey },
    },
  )

  const attachmentKey = seed('attachment key')
  const attachmentPlaintext = Buffer.alloc(2500)
  for (let index = 0; index < attachmentPlaintext.byteLength; index++)
    attachmentPlaintext[index] = index % 251
  const encryptor = new AttachmentEncryptor({ key: attachmentKey, chunkBytes: 1024 })
  const [attachmentCiphertext] = await Promise.all([
    buffer(encryptor),
    pipeline(Readable.from([attachmentPlaintext]), encryptor),
  ])

  const registration: Registration = {
    v: 1,
    relayId,
    name: 'Acme',
    keys: { identityKey: alice.identityPublicKey, encryptionKey: alice.encryptionPublicKey },
    webhookUrl: 'https://acme.example/ochat/webhook',
    at,
  }
  const signedRegistration = signRegistration(registration, alice.identity.secretKey)

  // Alice replaces both of her keys; her instance id stays the one her first key gave.
  const aliceNext = instance('alice, next')
  const rotation: KeyRotation = {
    v: 1,
    relayId,
    instanceId: alice.instanceId,
    previousIdentityKey: alice.identityPublicKey,
    keys: { identityKey: aliceNext.identityPublicKey, encryptionKey: aliceNext.encryptionPublicKey },
    at: at + 2000,
  }
  const signedRotation = signKeyRotation(rotation, {
    previousSecretKey: alice.identity.secretKey,
    newSecretKey: aliceNext.identity.secretKey,
  })

  // The relay in the middle of its first rotation: its first key (the relay id's) retiring, the next one
  // active, both signing. No `origin` yet: the key of the relay id is still in `keys` (PROTOCOL.md §1.5).
  const keySet: RelayKeySet = {
    v: 1,
    relayId,
    serial: 2,
    issuedAt: at,
    keys: [
      { kid: '2026-10', publicKey: relayKeys.publicKey, status: 'retiring' },
      { kid: '2026-11', publicKey: relayNextKeys.publicKey, status: 'active' },
    ],
  }
  const signedKeySet = signKeySet(keySet, [
    { kid: '2026-10', secretKey: whskBytes(relayKeys.secretKey) },
    { kid: '2026-11', secretKey: whskBytes(relayNextKeys.secretKey) },
  ])

  const challenge = toBase64Url(seed('socket challenge'))
  const socketAuth = signSocketAuth(
    { relayId, instanceId: alice.instanceId, challenge, at: at + 3000 },
    alice.identity.secretKey,
  )

  const strip = ({ identity: _i, encryption: _e, ...rest }: ReturnType<typeof instance>) => rest
  return {
    about:
      "O'Chat protocol v1 test vectors (PROTOCOL.md §11). Bytes are hex unless the field is a wire value, which keeps its wire encoding (base64url, or base64 for Standard Webhooks).",
    keys: {
      alice: strip(alice),
      bob: strip(bob),
      relay: { relayId, ...relayKeys },
      relayNext: relayNextKeys,
    },
    canonical,
    envelope: {
      payload,
      plaintext: JSON.stringify(payload),
      nonce: hex(nonce),
      signingInput: hex(envelopeSigningInput(envelope.header, fromB64(envelope.ciphertext))),
      envelope,
    },
    receipt: {
      signingInput: signingInputHex(SIGNING_LABELS.receipt, receipt),
      signed: signedReceipt,
    },
    registration: {
      signingInput: signingInputHex(SIGNING_LABELS.registration, registration),
      signed: signedRegistration,
    },
    keyRotation: {
      newKeys: strip(aliceNext),
      signingInput: signingInputHex(SIGNING_LABELS.keyRotation, rotation),
      signed: signedRotation,
    },
    keySet: {
      signingInput: signingInputHex(SIGNING_LABELS.keySet, keySet),
      signed: signedKeySet,
    },
    socketAuth: {
      challenge: { type: 'challenge', v: 1, relayId, challenge, at: at + 2500 },
      signingInput: signingInputHex(SIGNING_LABELS.socketAuth, socketAuth.auth),
      frame: socketAuth,
    },
    signedRequest: {
      method: 'POST',
      path: '/v1/envelopes',
      audience: relayId,
      body: requestBody,
      canonicalInput: canonicalJson(requestInput),
      signingInput: hex(requestSigningInput(requestInput)),
      headers: requestHeaders,
    },
    webhook: {
      id: webhookId,
      timestamp: at / 1000,
      body: webhookBody,
      signedContent: `${webhookId}.${at / 1000}.${webhookBody}`,
      headers: webhookHeaders,
    },
    safetyCode: { digits: code.digits, display: code.display },
    attachment: {
      key: hex(attachmentKey),
      chunkBytes: 1024,
      plaintext: hex(attachmentPlaintext),
      sha256: encryptor.digest().sha256,
      ciphertext: hex(attachmentCiphertext),
    },
  }
}
