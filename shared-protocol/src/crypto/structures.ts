import { fromBase64, fromBase64Url } from '../encoding.ts'
import { accept, firstIssue, type Outcome, reject } from '../errors.ts'
import { LIMITS } from '../limits.ts'
import type { InstanceId } from '../schemas/common.ts'
import { SocketAuthSchema } from '../schemas/frames.ts'
import {
  type Registration,
  type RelayKeySet,
  type SignedKeyRotation,
  SignedKeyRotationSchema,
  type SignedRegistration,
  SignedRegistrationSchema,
  type SignedRelayKeySet,
  SignedRelayKeySetSchema,
} from '../schemas/identity.ts'
import { type Receipt, type SignedReceipt, SignedReceiptSchema } from '../schemas/payload.ts'
import { deriveInstanceId, deriveRelayId } from './ids.ts'
import { SIGNING_LABELS, signCanonical, verifyCanonical } from './signing.ts'

/** Signing and checking of the small signed structures: receipts, registration, rotation, key sets, socket auth. */

function withinSkew(atMs: number, nowMs: number): boolean {
  return Math.abs(nowMs - atMs) <= LIMITS.clockSkewSeconds * 1000
}

// Receipts (PROTOCOL.md §5.1) ---------------------------------------------------------------------

export function signReceipt(receipt: Receipt, identitySecretKey: Uint8Array): SignedReceipt {
  return { receipt, signature: signCanonical(SIGNING_LABELS.receipt, receipt, identitySecretKey) }
}

/**
 * Checks a receipt claims to come from the instance whose key is given (the key the verifier pinned for
 * it) and is addressed to the expected instance, then its signature.
 */
export function verifyReceipt(
  input: unknown,
  expected: { from: string; to: string; signerIdentityKey: Uint8Array },
): Outcome<SignedReceipt, 'E_RECEIPT_MALFORMED' | 'E_RECEIPT_MISADDRESSED' | 'E_RECEIPT_BAD_SIGNATURE'> {
  const parsed = SignedReceiptSchema.safeParse(input)
  if (!parsed.success) return reject('E_RECEIPT_MALFORMED', 'invalid', `receipt ${firstIssue(parsed.error)}`)
  const { receipt, signature } = parsed.data
  if (receipt.from !== expected.from || receipt.to !== expected.to) {
    return reject(
      'E_RECEIPT_MISADDRESSED',
      'invalid',
      `receipt must be from ${expected.from} to ${expected.to}`,
    )
  }
  const signerIdentityKey = expected.signerIdentityKey
  if (!verifyCanonical(SIGNING_LABELS.receipt, receipt, signature, signerIdentityKey)) {
    return reject('E_RECEIPT_BAD_SIGNATURE', 'invalid', 'receipt signature does not match the recipient key')
  }
  return accept(parsed.data)
}

// Registration (PROTOCOL.md §1.3) -----------------------------------------------------------------

export function signRegistration(
  registration: Registration,
  identitySecretKey: Uint8Array,
): SignedRegistration {
  return {
    registration,
    signature: signCanonical(SIGNING_LABELS.registration, registration, identitySecretKey),
  }
}

export type RegistrationCode =
  | 'E_REGISTRATION_MALFORMED'
  | 'E_REGISTRATION_WRONG_RELAY'
  | 'E_REGISTRATION_STALE'
  | 'E_REGISTRATION_BAD_SIGNATURE'

/** Checks shape, audience, freshness and proof of possession; returns the derived instance id. */
export function verifyRegistration(
  input: unknown,
  expected: { relayId: string; nowMs: number },
): Outcome<{ instanceId: InstanceId; registration: Registration }, RegistrationCode> {
  const parsed = SignedRegistrationSchema.safeParse(input)
  if (!parsed.success)
    return reject('E_REGISTRATION_MALFORMED', 'invalid', `registration ${firstIssue(parsed.error)}`)
  const { registration, signature } = parsed.data
  if (registration.relayId !== expected.relayId) {
    return reject('E_REGISTRATION_WRONG_RELAY', 'invalid', 'registration was made for another relay')
  }
  if (!withinSkew(registration.at, expected.nowMs)) {
    return reject(
      'E_REGISTRATION_STALE',
      'invalid',
      `registration time is more than ${LIMITS.clockSkewSeconds} s from the relay clock`,
    )
  }
  const identityKey = fromBase64Url(registration.keys.identityKey)
  if (!identityKey || !verifyCanonical(SIGNING_LABELS.registration, registration, signature, identityKey)) {
    return reject('E_REGISTRATION_BAD_SIGNATURE', 'invalid', 'registration is not signed by its identity key')
  }
  return accept({ instanceId: deriveInstanceId(identityKey), registration })
}

// Key rotation (PROTOCOL.md §1.4) -----------------------------------------------------------------

export function signKeyRotation(
  rotation: SignedKeyRotation['rotation'],
  keys: { previousSecretKey: Uint8Array; newSecretKey: Uint8Array },
): SignedKeyRotation {
  return {
    rotation,
    signature: signCanonical(SIGNING_LABELS.keyRotation, rotation, keys.previousSecretKey),
    newKeySignature: signCanonical(SIGNING_LABELS.keyRotation, rotation, keys.newSecretKey),
  }
}

export function verifyKeyRotation(
  input: unknown,
  expected: { relayId: string; instanceId: string; currentIdentityKey: Uint8Array; nowMs: number },
): Outcome<SignedKeyRotation, 'E_ROTATION_MALFORMED' | 'E_ROTATION_STALE' | 'E_ROTATION_BAD_SIGNATURE'> {
  const parsed = SignedKeyRotationSchema.safeParse(input)
  if (!parsed.success)
    return reject('E_ROTATION_MALFORMED', 'invalid', `key rotation ${firstIssue(parsed.error)}`)
  const { rotation, signature, newKeySignature } = parsed.data
  if (rotation.relayId !== expected.relayId || rotation.instanceId !== expected.instanceId) {
    return reject('E_ROTATION_MALFORMED', 'invalid', 'key rotation names another relay or instance')
  }
  if (!withinSkew(rotation.at, expected.nowMs)) {
    return reject(
      'E_ROTATION_STALE',
      'invalid',
      `key rotation time is more than ${LIMITS.clockSkewSeconds} s from the relay clock`,
    )
  }
  const previous = fromBase64Url(rotation.previousIdentityKey)
  const next = fromBase64Url(rotation.keys.identityKey)
  const signedByCurrent =
    previous !== undefined &&
    Buffer.from(previous).equals(Buffer.from(expected.currentIdentityKey)) &&
    verifyCanonical(SIGNING_LABELS.keyRotation, rotation, signature, previous)
  const signedByNew =
    next !== undefined && verifyCanonical(SIGNING_LABELS.keyRotation, rotation, newKeySignature, next)
  if (!signedByCurrent || !signedByNew) {
    return reject(
      'E_ROTATION_BAD_SIGNATURE',
      'invalid',
      'key rotation must be signed by the current and the new key',
    )
  }
  return accept(parsed.data)
}

// Relay key sets (PROTOCOL.md §1.5) ---------------------------------------------------------------

/** Signs a key set with each of the given relay keys (by kid). */
export function signKeySet(
  keySet: RelayKeySet,
  signers: { kid: string; secretKey: Uint8Array }[],
): SignedRelayKeySet {
  return {
    keySet,
    signatures: signers.map((signer) => ({
      kid: signer.kid,
      signature: signCanonical(SIGNING_LABELS.keySet, keySet, signer.secretKey),
    })),
  }
}

/** The raw 32-byte key of a "whpk_" relay public key (PROTOCOL.md §1.1). */
export function webhookPublicKeyBytes(whpk: string): Uint8Array | undefined {
  if (!whpk.startsWith('whpk_')) return undefined
  const bytes = fromBase64(whpk.slice('whpk_'.length))
  return bytes?.byteLength === 32 ? bytes : undefined
}

/**
 * The key of `keySet` the relay id was derived from (PROTOCOL.md §1.2, §1.5): its `origin`, or else the
 * key of `keys` that derives it. Undefined when neither names the relay: such a set is not the relay's.
 */
export function relayIdKey(keySet: RelayKeySet): string | undefined {
  const names = (whpk: string) => {
    const bytes = webhookPublicKeyBytes(whpk)
    return bytes !== undefined && deriveRelayId(bytes) === keySet.relayId
  }
  if (keySet.origin !== undefined) return names(keySet.origin) ? keySet.origin : undefined
  return keySet.keys.find((key) => names(key.publicKey))?.publicKey
}

/**
 * Accepts a new key set only if it is for the expected relay, has a higher serial, and is signed by a key
 * of the set the node pinned (PROTOCOL.md §1.5). At registration, `pinned` is undefined: trust on first use,
 * but the set must still be signed by one of its own keys. Every set, the first one included, must hold
 * the key its relay id derives from (`relayIdKey`: its `origin`, or else one of `keys`), or it is not the
 * relay's; and once a set with an `origin` is pinned, a later one must carry the same.
 */
export function verifyKeySetUpdate(
  input: unknown,
  expected: { relayId: string; pinned: RelayKeySet | undefined },
): Outcome<SignedRelayKeySet, 'E_KEYSET_MALFORMED' | 'E_KEYSET_NOT_NEWER' | 'E_KEYSET_UNTRUSTED'> {
  const parsed = SignedRelayKeySetSchema.safeParse(input)
  if (!parsed.success) return reject('E_KEYSET_MALFORMED', 'invalid', `key set ${firstIssue(parsed.error)}`)
  const { keySet, signatures } = parsed.data
  const pinned = expected.pinned
  if (keySet.relayId !== expected.relayId || (pinned && pinned.relayId !== expected.relayId)) {
    return reject('E_KEYSET_UNTRUSTED', 'blocked', 'key set belongs to another relay')
  }
  if (relayIdKey(keySet) === undefined) {
    return reject(
      'E_KEYSET_UNTRUSTED',
      'blocked',
      keySet.origin === undefined
        ? 'no key of the key set derives its relay id'
        : 'key set origin does not derive its relay id',
    )
  }
  if (pinned?.origin !== undefined && keySet.origin !== pinned.origin) {
    return reject('E_KEYSET_UNTRUSTED', 'blocked', 'key set origin differs from the pinned one')
  }
  if (pinned && keySet.serial <= pinned.serial) {
    return reject(
      'E_KEYSET_NOT_NEWER',
      'invalid',
      `key set serial ${keySet.serial} is not newer than ${pinned.serial}`,
    )
  }
  const trusted = (pinned ?? keySet).keys
  const vouched = signatures.some(({ kid, signature }) => {
    const key = trusted.find((candidate) => candidate.kid === kid)
    const bytes = key && webhookPublicKeyBytes(key.publicKey)
    return bytes !== undefined && verifyCanonical(SIGNING_LABELS.keySet, keySet, signature, bytes)
  })
  if (!vouched) return reject('E_KEYSET_UNTRUSTED', 'blocked', 'key set is not signed by a pinned relay key')
  return accept(parsed.data)
}

// WebSocket authentication (PROTOCOL.md §6.1) -----------------------------------------------------

/** A challenge must be answered within 30 s of being sent. */
export const CHALLENGE_TTL_MS = 30_000

export function signSocketAuth(
  auth: { relayId: string; instanceId: string; challenge: string; at: number },
  identitySecretKey: Uint8Array,
) {
  const value = { v: 1 as const, ...auth }
  return {
    type: 'auth' as const,
    auth: value,
    signature: signCanonical(SIGNING_LABELS.socketAuth, value, identitySecretKey),
  }
}

export function verifySocketAuth(
  input: { auth: unknown; signature: unknown },
  expected: {
    relayId: string
    challenge: string
    /** When the relay sent the challenge, ms: an answer more than 30 s later is refused. */
    challengeIssuedAt: number
    /** The current identity key of the instance the answer names (look it up from `auth.instanceId`). */
    identityKey: Uint8Array | undefined
    nowMs: number
  },
): Outcome<{ instanceId: string }, 'E_SOCKET_AUTH_FAILED'> {
  const parsed = SocketAuthSchema.safeParse(input.auth)
  const fail = reject('E_SOCKET_AUTH_FAILED', 'auth-required', 'challenge answer is not valid')
  if (!parsed.success) return fail
  const auth = parsed.data
  if (
    auth.relayId !== expected.relayId ||
    auth.challenge !== expected.challenge ||
    expected.nowMs - expected.challengeIssuedAt > CHALLENGE_TTL_MS ||
    !withinSkew(auth.at, expected.nowMs)
  ) {
    return fail
  }
  const key = expected.identityKey
  // One answer for "unknown instance" and "bad signature": never reveal which instances exist.
  if (!key || !verifyCanonical(SIGNING_LABELS.socketAuth, auth, input.signature, key)) return fail
  return accept({ instanceId: auth.instanceId })
}
