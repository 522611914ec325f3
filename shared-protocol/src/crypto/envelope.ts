import { randomBytes } from 'node:crypto'
import nacl from 'tweetnacl'
import { canonicalBytes } from '../canonical.ts'
import { fromBase64Url, toBase64Url } from '../encoding.ts'
import { accept, type Outcome, reject } from '../errors.ts'
import { type Envelope, type EnvelopeHeader, EnvelopeSchema } from '../schemas/envelope.ts'
import { type MessagePayload, MessagePayloadSchema } from '../schemas/payload.ts'
import { signDetached, verifyDetached } from './ed25519.ts'
import { labelled, SIGNING_LABELS } from './signing.ts'

export type EncryptionKeyPair = { publicKey: Uint8Array; secretKey: Uint8Array }

export function generateEncryptionKeyPair(): EncryptionKeyPair {
  return nacl.box.keyPair()
}

export function encryptionKeyPairFromSecret(secretKey: Uint8Array): EncryptionKeyPair {
  return nacl.box.keyPair.fromSecretKey(secretKey)
}

/**
 * The nacl.box shared keys of one instance with its peers. Computing one is an X25519 scalar
 * multiplication, which costs far more than sealing with it, so it is reused. Bounded, oldest out
 * first. Make a new cache when the instance's own encryption key rotates.
 */
export class PeerBoxKeys {
  readonly #ownSecretKey: Uint8Array
  readonly #limit: number
  readonly #shared = new Map<string, Uint8Array>()

  constructor(ownSecretKey: Uint8Array, limit = 1024) {
    this.#ownSecretKey = ownSecretKey
    this.#limit = limit
  }

  sharedKey(peerPublicKey: Uint8Array): Uint8Array {
    const id = toBase64Url(peerPublicKey)
    const hit = this.#shared.get(id)
    if (hit) return hit
    const key = nacl.box.before(peerPublicKey, this.#ownSecretKey)
    if (this.#shared.size >= this.#limit) {
      const oldest = this.#shared.keys().next()
      if (!oldest.done) this.#shared.delete(oldest.value)
    }
    this.#shared.set(id, key)
    return key
  }
}

/**
 * The bytes the sender signs (PROTOCOL.md §4.3):
 * "ochat/envelope/v1" ‖ 0x00 ‖ uint32be(length of canonical header) ‖ canonical header ‖ ciphertext.
 * The length prefix keeps the header/ciphertext boundary unambiguous.
 */
export function envelopeSigningInput(header: EnvelopeHeader, ciphertext: Uint8Array): Uint8Array {
  const headerBytes = canonicalBytes(header)
  const length = new Uint8Array(4)
  new DataView(length.buffer).setUint32(0, headerBytes.byteLength)
  return labelled(SIGNING_LABELS.envelope, length, headerBytes, ciphertext)
}

export type SealEnvelopeProps = {
  /** `blobs` is filled in from the payload's attachments. */
  header: Omit<EnvelopeHeader, 'v' | 'nonce' | 'blobs'>
  /** Its `envelopeId` must equal `header.id`. */
  payload: MessagePayload
  senderIdentitySecretKey: Uint8Array
  /** The sender's shared keys, made from its encryption secret key. */
  boxKeys: PeerBoxKeys
  recipientEncryptionKey: Uint8Array
  /** 24 bytes; random unless a test vector fixes it. */
  nonce?: Uint8Array
}

export function sealEnvelope(props: SealEnvelopeProps): Envelope {
  if (props.payload.envelopeId !== props.header.id)
    throw new RangeError('payload.envelopeId must equal header.id')
  const nonce = props.nonce ?? randomBytes(nacl.box.nonceLength)
  const blobs = props.payload.attachments.map((file) => file.blobId)
  const header: EnvelopeHeader = {
    v: 1,
    ...props.header,
    nonce: toBase64Url(nonce),
    ...(blobs.length > 0 ? { blobs } : {}),
  }
  const plaintext = new TextEncoder().encode(JSON.stringify(props.payload))
  const ciphertext = nacl.box.after(plaintext, nonce, props.boxKeys.sharedKey(props.recipientEncryptionKey))
  const signature = signDetached(envelopeSigningInput(header, ciphertext), props.senderIdentitySecretKey)
  return { header, ciphertext: toBase64Url(ciphertext), signature: toBase64Url(signature) }
}

export type OpenEnvelopeCode =
  | 'E_ENVELOPE_MALFORMED'
  | 'E_ENVELOPE_WRONG_RECIPIENT'
  | 'E_ENVELOPE_WRONG_SENDER'
  | 'E_ENVELOPE_BAD_SIGNATURE'
  | 'E_ENVELOPE_UNDECRYPTABLE'
  | 'E_PAYLOAD_MALFORMED'

export type OpenEnvelopeProps = {
  /** As received: it is validated here, so raw JSON may be passed. */
  envelope: unknown
  /** The recipient's own instance id: an envelope for someone else is refused. */
  recipientInstanceId: string
  /** The peer of the connection it arrived on: an envelope claiming another sender is refused. */
  senderInstanceId: string
  /** The sender identity key pinned for this connection, not a key named by the envelope. */
  senderIdentityKey: Uint8Array
  senderEncryptionKey: Uint8Array
  /** The recipient's shared keys, made from its encryption secret key. */
  boxKeys: PeerBoxKeys
}

/**
 * Checks, in order: shape, addressee and sender, the sender's signature (before any decryption, §4.3),
 * the box, then the payload and that it belongs to this envelope. Every failure is a value.
 */
export function openEnvelope(
  props: OpenEnvelopeProps,
): Outcome<{ envelope: Envelope; payload: MessagePayload }, OpenEnvelopeCode> {
  const parsed = EnvelopeSchema.safeParse(props.envelope)
  if (!parsed.success)
    return reject('E_ENVELOPE_MALFORMED', 'invalid', `envelope: ${parsed.error.issues[0]?.message}`)
  const envelope = parsed.data
  if (envelope.header.to !== props.recipientInstanceId) {
    return reject('E_ENVELOPE_WRONG_RECIPIENT', 'invalid', 'envelope is addressed to another instance')
  }
  if (envelope.header.from !== props.senderInstanceId) {
    return reject(
      'E_ENVELOPE_WRONG_SENDER',
      'invalid',
      'envelope claims a sender other than its connection peer',
    )
  }
  const ciphertext = fromBase64Url(envelope.ciphertext)
  const signature = fromBase64Url(envelope.signature)
  const nonce = fromBase64Url(envelope.header.nonce)
  if (!ciphertext || !signature || !nonce)
    return reject('E_ENVELOPE_MALFORMED', 'invalid', 'envelope: bad base64url')
  if (
    !verifyDetached(envelopeSigningInput(envelope.header, ciphertext), signature, props.senderIdentityKey)
  ) {
    return reject(
      'E_ENVELOPE_BAD_SIGNATURE',
      'invalid',
      "envelope signature does not match the sender's pinned key",
    )
  }
  const plaintext = nacl.box.open.after(ciphertext, nonce, props.boxKeys.sharedKey(props.senderEncryptionKey))
  if (!plaintext)
    return reject('E_ENVELOPE_UNDECRYPTABLE', 'invalid', 'envelope cannot be decrypted with our key')
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plaintext))
  } catch {
    return reject('E_PAYLOAD_MALFORMED', 'invalid', 'payload is not UTF-8 JSON')
  }
  const payload = MessagePayloadSchema.safeParse(json)
  if (!payload.success) {
    const issue = payload.error.issues[0]
    return reject(
      'E_PAYLOAD_MALFORMED',
      'invalid',
      `payload ${issue?.path.join('.') || '$'}: ${issue?.message}`,
    )
  }
  if (payload.data.envelopeId !== envelope.header.id) {
    return reject('E_PAYLOAD_MALFORMED', 'invalid', 'payload belongs to another envelope')
  }
  const declared = [...(envelope.header.blobs ?? [])].sort().join(',')
  const referenced = payload.data.attachments
    .map((file) => file.blobId)
    .sort()
    .join(',')
  if (declared !== referenced) {
    return reject(
      'E_PAYLOAD_MALFORMED',
      'invalid',
      "the header's blobs do not match the payload's attachments",
    )
  }
  return accept({ envelope, payload: payload.data })
}
