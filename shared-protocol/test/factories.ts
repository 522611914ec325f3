import { generateIdentityKeyPair } from '../src/crypto/ed25519.ts'
import { generateEncryptionKeyPair, PeerBoxKeys, sealEnvelope } from '../src/crypto/envelope.ts'
import { deriveInstanceId, newId } from '../src/crypto/ids.ts'
import { toBase64Url } from '../src/encoding.ts'
import type { Envelope } from '../src/schemas/envelope.ts'
import type { MessagePayload } from '../src/schemas/payload.ts'

/** A fresh instance with real keys. */
export function buildInstance() {
  const identity = generateIdentityKeyPair()
  const encryption = generateEncryptionKeyPair()
  return {
    instanceId: deriveInstanceId(identity.publicKey),
    identity,
    encryption,
    boxKeys: new PeerBoxKeys(encryption.secretKey),
    keys: { identityKey: toBase64Url(identity.publicKey), encryptionKey: toBase64Url(encryption.publicKey) },
  }
}
export type TestInstance = ReturnType<typeof buildInstance>

export function buildPayload(overrides: Partial<MessagePayload> = {}): MessagePayload {
  return {
    v: 1,
    type: 'message',
    envelopeId: newId(),
    sentAt: Date.now(),
    sender: { name: 'Alice Martin', company: 'Acme' },
    html: '<p>Quarterly order attached.</p>',
    attachments: [],
    ...overrides,
  }
}

export function buildEnvelope(
  from: TestInstance,
  to: TestInstance,
  payloadOverrides: Partial<MessagePayload> = {},
): Envelope {
  const payload = buildPayload(payloadOverrides)
  return sealEnvelope({
    header: { id: payload.envelopeId, from: from.instanceId, to: to.instanceId, createdAt: payload.sentAt },
    payload,
    senderIdentitySecretKey: from.identity.secretKey,
    boxKeys: from.boxKeys,
    recipientEncryptionKey: to.encryption.publicKey,
  })
}

/** Flips one bit of a base64url string's decoded bytes and re-encodes it. */
export function flipBit(base64url: string, bitIndex = 0): string {
  const bytes = Buffer.from(base64url, 'base64url')
  const byte = Math.floor(bitIndex / 8) % bytes.byteLength
  bytes[byte] = (bytes[byte] ?? 0) ^ (1 << (bitIndex % 8))
  return bytes.toString('base64url')
}
