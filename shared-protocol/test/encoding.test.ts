// PROTOCOL.md §2: every binary field is base64url without padding, and only that is accepted.
import fc from 'fast-check'
import t from 'tap'
import { fromBase64Url, isBase64Url, toBase64Url } from '../src/encoding.ts'
import { EnvelopeSchema } from '../src/schemas/envelope.ts'
import { buildEnvelope, buildInstance } from './factories.ts'

const alice = buildInstance()
const bob = buildInstance()

t.test('what toBase64Url writes is accepted and decodes to the same bytes', async () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const text = toBase64Url(bytes)
      return isBase64Url(text) && Buffer.from(fromBase64Url(text) ?? []).equals(Buffer.from(bytes))
    }),
  )
})

t.test('a text is accepted only if it is exactly what encoding its bytes gives back', async () => {
  // Near misses: the alphabet, plus padding, standard base64's two characters and others.
  const character = fc.constantFrom(...'AQgwBCDEFGHIJ_-abcz0189=+/ .'.split(''))
  fc.assert(
    fc.property(fc.string({ unit: character, maxLength: 12 }), (text) => {
      const roundTrips = Buffer.from(text, 'base64url').toString('base64url') === text
      return isBase64Url(text) === roundTrips && (fromBase64Url(text) !== undefined) === roundTrips
    }),
    { numRuns: 5000 },
  )
})

t.test('the bits past the last byte must be zero, and no length ends mid-byte', async (t) => {
  t.ok(isBase64Url('AA'), 'one byte, 4 spare bits clear')
  t.notOk(isBase64Url('AB'), 'one byte, a spare bit set: decodes as AA would, an alias')
  t.ok(isBase64Url('AAE'), 'two bytes, 2 spare bits clear')
  t.notOk(isBase64Url('AAF'), 'two bytes, a spare bit set')
  t.notOk(isBase64Url('AAAAA'), 'five characters are 30 bits: no whole byte count')
  t.ok(isBase64Url(''))
  t.equal(fromBase64Url('AB'), undefined)
})

t.test('an envelope whose ciphertext is an alias of valid base64url is refused', async (t) => {
  const envelope = buildEnvelope(alice, bob)
  // Remove characters until the length leaves spare bits, then set one of them.
  let ciphertext = envelope.ciphertext
  while ((ciphertext.length * 6) % 8 === 0) ciphertext = ciphertext.slice(0, -1)
  const last = ciphertext.at(-1) === 'B' ? 'C' : 'B'
  t.ok(EnvelopeSchema.safeParse({ ...envelope, ciphertext: `${ciphertext.slice(0, -1)}A` }).success)
  t.notOk(EnvelopeSchema.safeParse({ ...envelope, ciphertext: `${ciphertext.slice(0, -1)}${last}` }).success)
})
