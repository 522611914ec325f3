// PROTOCOL.md §1.1: node:crypto's Ed25519 and tweetnacl's nacl.sign.detached agree, both ways.
import fc from 'fast-check'
import t from 'tap'
import nacl from 'tweetnacl'
import { identityKeyPairFromSeed, signDetached, verifyDetached } from '../src/crypto/ed25519.ts'

const seed = fc.uint8Array({ minLength: 32, maxLength: 32 })
const message = fc.uint8Array({ maxLength: 2048 })

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
    { numRuns: 40 }, // tweetnacl signs ~200/s here
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
