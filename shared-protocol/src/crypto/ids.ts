import { createHash, randomBytes } from 'node:crypto'
import { utf8 } from '../encoding.ts'
import type { InstanceId, RelayId } from '../schemas/common.ts'

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

/** RFC 4648 base32, lower case, no padding. */
export function base32(bytes: Uint8Array): string {
  let out = ''
  let buffer = 0
  let bits = 0
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += BASE32[(buffer >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += BASE32[(buffer << (5 - bits)) & 31]
  return out
}

function fingerprint(label: string, publicKey: Uint8Array): string {
  const digest = createHash('sha256').update(utf8(label)).update(publicKey).digest()
  return base32(digest.subarray(0, 16))
}

/**
 * An instance id is derived from its first identity key (PROTOCOL.md §1.2):
 * "oc_" + base32(SHA-256("ochat/instance-id/v1" ‖ identity key)[0..16]). It stays the same after a
 * key rotation; the relay keeps the mapping from id to current keys.
 */
export function deriveInstanceId(identityPublicKey: Uint8Array): InstanceId {
  return `oc_${fingerprint('ochat/instance-id/v1', identityPublicKey)}`
}

/** Same construction for a relay, from its first signing key. */
export function deriveRelayId(signingPublicKey: Uint8Array): RelayId {
  return `rl_${fingerprint('ochat/relay-id/v1', signingPublicKey)}`
}

/**
 * UUIDv7 (RFC 9562 §5.7): 48-bit Unix ms, then random bits. Time-ordered ids keep the relay's and the
 * node's indexes append-mostly.
 */
export function newId(nowMs: number = Date.now()): string {
  const bytes = randomBytes(16)
  bytes.writeUIntBE(nowMs, 0, 6)
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x70
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80
  const hex = bytes.toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
