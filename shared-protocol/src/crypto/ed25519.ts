import { createPrivateKey, createPublicKey, type KeyObject, randomBytes, sign, verify } from 'node:crypto'
import { toBase64Url } from '../encoding.ts'

/**
 * Ed25519 through node:crypto (OpenSSL), which is byte-compatible with tweetnacl's
 * `nacl.sign.detached` (RFC 8032 is deterministic) and two orders of magnitude faster than its
 * JavaScript arithmetic (figures in PROTOCOL.md §12). Keys keep tweetnacl's layout so that both agree:
 * a 64-byte secret key (32-byte seed ‖ 32-byte public key) and a 32-byte public key.
 */

export type IdentityKeyPair = { publicKey: Uint8Array; secretKey: Uint8Array }

/** A fresh key pair from a random seed, through node:crypto like signing. */
export function generateIdentityKeyPair(): IdentityKeyPair {
  return identityKeyPairFromSeed(randomBytes(32))
}

/** PKCS #8 for an Ed25519 private key (RFC 8410) up to the 32-byte seed that follows. */
const PKCS8_SEED_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')

/**
 * Derives the key pair from a 32-byte seed (test vectors, and keys restored from a backup), as
 * tweetnacl's `nacl.sign.keyPair.fromSeed` does (tested byte for byte in ed25519.test.ts).
 */
export function identityKeyPairFromSeed(seed: Uint8Array): IdentityKeyPair {
  if (seed.byteLength !== 32) throw new RangeError('an Ed25519 seed is 32 bytes')
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_SEED_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  })
  const publicKey = createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).subarray(-32)
  const secretKey = new Uint8Array(64)
  secretKey.set(seed)
  secretKey.set(publicKey, 32)
  return { publicKey: new Uint8Array(publicKey), secretKey }
}

// A KeyObject is built by parsing DER, so each key is imported once. Bounded, oldest out first.
const CACHE_LIMIT = 4096
const privateKeys = new Map<string, KeyObject>()
const publicKeys = new Map<string, KeyObject>()

function remember(cache: Map<string, KeyObject>, id: string, make: () => KeyObject): KeyObject {
  const hit = cache.get(id)
  if (hit) return hit
  const key = make()
  if (cache.size >= CACHE_LIMIT) {
    const oldest = cache.keys().next()
    if (!oldest.done) cache.delete(oldest.value)
  }
  cache.set(id, key)
  return key
}

function privateKeyObject(secretKey: Uint8Array): KeyObject {
  if (secretKey.byteLength !== 64)
    throw new RangeError('an Ed25519 secret key is 64 bytes (seed ‖ public key)')
  const d = toBase64Url(secretKey.subarray(0, 32))
  const x = toBase64Url(secretKey.subarray(32))
  return remember(privateKeys, x + d, () =>
    createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d, x }, format: 'jwk' }),
  )
}

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  const x = toBase64Url(publicKey)
  return remember(publicKeys, x, () =>
    createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' }),
  )
}

export function signDetached(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, message, privateKeyObject(secretKey)))
}

/** False for any bad input (wrong lengths, a key that is not a curve point): never throws. */
export function verifyDetached(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.byteLength !== 64 || publicKey.byteLength !== 32) return false
  try {
    return verify(null, message, publicKeyObject(publicKey), signature)
  } catch {
    // OpenSSL refuses some malformed public keys at import; a forged key is simply not valid.
    return false
  }
}
