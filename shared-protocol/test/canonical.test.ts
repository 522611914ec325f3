// PROTOCOL.md §2.1: canonical bytes.
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import t from 'tap'
import { CanonicalEncodingError, canonicalJson } from '../src/canonical.ts'

// Values our schemas can produce: safe integers, strings, booleans, null, arrays and plain objects.
const canonicalValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.maxSafeInteger().filter((n) => !Object.is(n, -0)),
    fc.string({ unit: 'grapheme' }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.string({ unit: 'grapheme', maxLength: 8 }), tie('value'), {
      maxKeys: 5,
      noNullPrototype: true,
    }),
  ),
})).value

function shuffleKeys(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((item) => shuffleKeys(item, seed))
  if (value === null || typeof value !== 'object') return value
  const entries = Object.entries(value)
  entries.sort(
    (a, b) => ((a[0].length * 31 + seed) % 7) - ((b[0].length * 31 + seed) % 7) || (seed % 2 ? 1 : -1),
  )
  return Object.fromEntries(entries.map(([key, item]) => [key, shuffleKeys(item, seed + 1)]))
}

t.test('sorts keys by UTF-16 code unit, without whitespace', async (t) => {
  t.equal(canonicalJson({ b: 2, a: 1 }), '{"a":1,"b":2}')
  t.equal(
    canonicalJson({ é: 1, z: 2, B: 3, a: [1, { d: null, c: true }] }),
    '{"B":3,"a":[1,{"c":true,"d":null}],"z":2,"é":1}',
  )
  t.equal(canonicalJson({ a: undefined, b: 'x' }), '{"b":"x"}', 'undefined members are left out')
})

t.test('refuses values whose JSON form is not obvious', async (t) => {
  for (const [label, value] of [
    ['a float', { n: 1.5 }],
    ['NaN', { n: Number.NaN }],
    ['-0', { n: -0 }],
    ['an unsafe integer', { n: 2 ** 60 }],
    ['a bigint', { n: 1n }],
    ['a Date', { d: new Date(0) }],
    ['a lone surrogate', { s: '\ud800' }],
    ['undefined in an array', [1, undefined]],
    ['a class instance', new Map()],
  ] as const) {
    t.throws(() => canonicalJson(value), CanonicalEncodingError, label)
  }
})

t.test('the same value gives the same bytes whatever its key order', async (t) => {
  fc.assert(
    fc.property(
      canonicalValue,
      fc.nat(),
      (value, seed) => canonicalJson(shuffleKeys(value, seed)) === canonicalJson(value),
    ),
  )
  t.pass('property held')
})

t.test('canonical JSON parses back to the same value and is a fixed point', async (t) => {
  fc.assert(
    fc.property(canonicalValue, (value) => {
      const text = canonicalJson(value)
      const parsed: unknown = JSON.parse(text)
      return canonicalJson(parsed) === text && JSON.stringify(parsed) === JSON.stringify(JSON.parse(text))
    }),
  )
  t.pass('property held')
})

t.test('two values share their bytes exactly when they are deeply equal', async (t) => {
  fc.assert(
    fc.property(
      canonicalValue,
      canonicalValue,
      (a, b) => (canonicalJson(a) === canonicalJson(b)) === isDeepStrictEqual(a, b),
    ),
  )
  // Random pairs are rarely equal, so also pair each value with a deep copy of itself, built with its
  // keys in another order: equal values, so the bytes must be equal too.
  fc.assert(
    fc.property(canonicalValue, fc.nat(), (a, seed) => {
      const b = shuffleKeys(a, seed)
      return isDeepStrictEqual(a, b) && canonicalJson(a) === canonicalJson(b)
    }),
  )
  t.pass('property held')
})
