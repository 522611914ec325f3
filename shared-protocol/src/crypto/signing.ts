import { canonicalBytes } from '../canonical.ts'
import { concatBytes, fromBase64Url, toBase64Url, utf8 } from '../encoding.ts'
import { signDetached, verifyDetached } from './ed25519.ts'

/**
 * Every signature covers a label, a zero byte, then the bytes (PROTOCOL.md §2.1). The label makes a
 * signature for one purpose useless for any other: a signed receipt can never pass as a signed
 * registration, even if their canonical JSON happened to match.
 */
export const SIGNING_LABELS = Object.freeze({
  registration: 'ochat/registration/v1',
  keyRotation: 'ochat/key-rotation/v1',
  keySet: 'ochat/key-set/v1',
  request: 'ochat/request/v1',
  socketAuth: 'ochat/socket-auth/v1',
  envelope: 'ochat/envelope/v1',
  receipt: 'ochat/receipt/v1',
})
export type SigningLabel = (typeof SIGNING_LABELS)[keyof typeof SIGNING_LABELS]

export function labelled(label: SigningLabel, ...parts: Uint8Array[]): Uint8Array {
  return concatBytes(utf8(label), new Uint8Array([0]), ...parts)
}

/** Signs `label ‖ 0x00 ‖ canonical(value)` and returns the signature in base64url. */
export function signCanonical(label: SigningLabel, value: unknown, secretKey: Uint8Array): string {
  return toBase64Url(signDetached(labelled(label, canonicalBytes(value)), secretKey))
}

/** False for a bad signature, a malformed one, or a value that has no canonical form. */
export function verifyCanonical(
  label: SigningLabel,
  value: unknown,
  signature: unknown,
  publicKey: Uint8Array,
): boolean {
  const signatureBytes = fromBase64Url(signature)
  if (!signatureBytes) return false
  let message: Uint8Array
  try {
    message = labelled(label, canonicalBytes(value))
  } catch {
    return false
  }
  return verifyDetached(message, signatureBytes, publicKey)
}
