import { createHash } from 'node:crypto'
import { fromBase64Url, utf8 } from '../encoding.ts'
import type { InstancePublicKeys } from '../schemas/identity.ts'

/**
 * The safety code of a connection (PROTOCOL.md §3.3): 60 digits in 12 groups of
 * five, identical on both sides, that two admins read to each other over the phone. It changes when
 * either instance's identity or encryption key changes.
 *
 * Built as an iterated fingerprint of each side, then the two sides sorted:
 *   per side: h = SHA-512(0x0000 ‖ identityKey ‖ encryptionKey ‖ instanceId), then 5,200 times
 *             h = SHA-512(h ‖ identityKey)  (the iterations make a brute-forced collision costly);
 *             the first 30 bytes, as six 5-byte big-endian integers, each mod 100,000, give 30 digits;
 *   the two 30-digit strings are sorted and concatenated, so both sides compute the same 60 digits.
 */
export const SAFETY_CODE_ITERATIONS = 5200

function sideDigits(instanceId: string, keys: InstancePublicKeys): string {
  const identityKey = fromBase64Url(keys.identityKey)
  const encryptionKey = fromBase64Url(keys.encryptionKey)
  if (identityKey?.byteLength !== 32 || encryptionKey?.byteLength !== 32)
    throw new RangeError('keys must be 32 bytes')
  let digest = createHash('sha512')
    .update(new Uint8Array([0, 0]))
    .update(identityKey)
    .update(encryptionKey)
    .update(utf8(instanceId))
    .digest()
  for (let round = 0; round < SAFETY_CODE_ITERATIONS; round++) {
    digest = createHash('sha512').update(digest).update(identityKey).digest()
  }
  let digits = ''
  for (let chunk = 0; chunk < 6; chunk++) {
    const value = digest.readUIntBE(chunk * 5, 5) % 100_000
    digits += String(value).padStart(5, '0')
  }
  return digits
}

export type SafetyCode = {
  /** The 60 digits. */
  digits: string
  /** 12 groups of five digits. */
  groups: string[]
  /** Three lines of four groups, as shown in the UI. */
  display: string
}

export function safetyCode(
  a: { instanceId: string; keys: InstancePublicKeys },
  b: { instanceId: string; keys: InstancePublicKeys },
): SafetyCode {
  const sides = [sideDigits(a.instanceId, a.keys), sideDigits(b.instanceId, b.keys)].sort()
  const digits = sides.join('')
  const groups = digits.match(/\d{5}/g) ?? []
  const display = [0, 4, 8].map((start) => groups.slice(start, start + 4).join(' ')).join('\n')
  return { digits, groups, display }
}
