import { timingSafeEqual } from 'node:crypto'

/** Base64url without padding (RFC 4648 §5): every binary field in our JSON bodies. */
export function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
}

/**
 * Whether `text` is base64url exactly as `toBase64Url` writes it: the alphabet, no padding, a length
 * that ends on a whole byte, and zero in the bits the last character has beyond the data. Node's
 * decoder skips characters it does not know and ignores those bits, so without this check "not
 * base64url" would decode to a shorter or aliased value. No decoding: a schema checks a 1 MiB
 * ciphertext with this.
 */
export function isBase64Url(text: string): boolean {
  if (text.length % 4 === 1 || !/^[A-Za-z0-9_-]*$/.test(text)) return false
  const spare = (text.length * 6) % 8
  if (spare === 0) return true
  // 2 spare bits after 3 characters' 18, 4 after 2 characters' 12: those must be zero.
  return (sextet(text.charCodeAt(text.length - 1)) & ((1 << spare) - 1)) === 0
}

function sextet(code: number): number {
  if (code >= 65 && code <= 90) return code - 65 // A-Z
  if (code >= 97 && code <= 122) return code - 71 // a-z
  if (code >= 48 && code <= 57) return code + 4 // 0-9
  return code === 45 ? 62 : 63 // - and _
}

/** Strict base64url decoding (`isBase64Url`): anything else is undefined, never a shorter value. */
export function fromBase64Url(text: unknown): Uint8Array | undefined {
  if (typeof text !== 'string' || !isBase64Url(text)) return undefined
  const bytes = Buffer.from(text, 'base64url')
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** Standard base64 with padding (RFC 4648 §4): only where the webhook format (PROTOCOL.md §7) requires it. */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}

export function fromBase64(text: unknown): Uint8Array | undefined {
  if (typeof text !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined
  const bytes = Buffer.from(text, 'base64')
  if (bytes.toString('base64') !== text) return undefined
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text)
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.byteLength
  }
  return out
}

/** Constant-time comparison; lengths are not secret. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && timingSafeEqual(a, b)
}
