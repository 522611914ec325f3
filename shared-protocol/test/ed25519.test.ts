// PROTOCOL.md §1.1: node:crypto's Ed25519 and tweetnacl's nacl.sign.detached agree, both ways.
import fc from 'fast-check'
import t from 'tap'
import nacl from 'tweetnacl'
import {
  generateIdentityKeyPair,
  identityKeyPairFromSeed,
  signDetached,
  verifyDetached,
} from '../src/crypto/ed25519.ts'

const seed = fc.uint8Array({ minLength: 32, maxLength: 32 })
const message = fc.uint8Array({ maxLength: 2048 })

t.test('key pairs from a seed are byte-identical to tweetnacl', async (t) => {
  fc.assert(
    fc.property(seed, (seedBytes) => {
      const ours = identityKeyPairFromSeed(seedBytes)
      const theirs = nacl.sign.keyPair.fromSeed(seedBytes)
      return (
        Buffer.from(ours.publicKey).equals(Buffer.from(theirs.publicKey)) &&
        Buffer.from(ours.secretKey).equals(Buffer.from(theirs.secretKey))
      )
    }),
    { numRuns: 100 },
  )
  const fresh = generateIdentityKeyPair()
  const again = nacl.sign.keyPair.fromSecretKey(fresh.secretKey)
  t.same(fresh.publicKey, again.publicKey, 'a generated pair is a valid tweetnacl pair')
  t.notSame(generateIdentityKeyPair().publicKey, fresh.publicKey, 'and a new one each time')
  t.throws(() => identityKeyPairFromSeed(new Uint8Array(31)), RangeError, 'a short seed is a caller bug')
})

t.test('node:crypto signatures are byte-identical to tweetnacl and verify there', async (t) => {
  fc.assert(
    fc.property(seed, message, (seedBytes, bytes) => {
      const pair = identityKeyPairFromSeed(seedBytes)
      const ours = signDetached(bytes, pair.secretKey)
      const theirs = nacl.sign.detached(bytes, pair.secretKey)
      return (
        Buffer.from(ours).equals(Buffer.from(theirs)) &&
        nacl.sign.detached.verify(bytes, ours, pair.publicKey)
      )
    }),
    { numRuns: 40 }, // few: tweetnacl signs slowly
  )
  t.pass('property held')
})

t.test('tweetnacl signatures verify with node:crypto, and altered ones do not', async (t) => {
  fc.assert(
    fc.property(seed, message, fc.nat(), (seedBytes, bytes, bit) => {
      const pair = identityKeyPairFromSeed(seedBytes)
      const signature = nacl.sign.detached(bytes, pair.secretKey)
      const altered = signature.slice()
      const at = Math.floor(bit / 8) % 64
      altered[at] = (altered[at] ?? 0) ^ (1 << (bit % 8))
      return (
        verifyDetached(bytes, signature, pair.publicKey) && !verifyDetached(bytes, altered, pair.publicKey)
      )
    }),
    { numRuns: 40 },
  )
  t.pass('property held')
})

t.test('bad inputs are an answer, never a throw', async (t) => {
  const pair = identityKeyPairFromSeed(new Uint8Array(32).fill(7))
  const signature = signDetached(new Uint8Array([1]), pair.secretKey)
  t.equal(
    verifyDetached(new Uint8Array([1]), signature.subarray(1), pair.publicKey),
    false,
    'short signature',
  )
  t.equal(verifyDetached(new Uint8Array([1]), signature, pair.publicKey.subarray(1)), false, 'short key')
  t.equal(
    verifyDetached(new Uint8Array([1]), signature, new Uint8Array(32).fill(0xff)),
    false,
    'key off the curve',
  )
  t.throws(
    () => signDetached(new Uint8Array([1]), new Uint8Array(32)),
    RangeError,
    'a 32-byte secret key is a caller bug',
  )
})
