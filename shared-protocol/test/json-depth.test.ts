// Both servers refuse a JSON body nested deeper than MAX_JSON_DEPTH before parsing it.
import fc from 'fast-check'
import t from 'tap'
import { jsonNestingExceeds, MAX_JSON_DEPTH } from '../src/json-depth.ts'

const bytes = (text: string) => Buffer.from(text, 'utf8')

/** The nesting of a parsed value, for comparison (recursive: only for the small values generated here). */
function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0
  return 1 + Math.max(0, ...Object.values(value).map(depthOf))
}

t.test('the limit counts arrays and objects, and only outside strings', async (t) => {
  t.notOk(
    jsonNestingExceeds(bytes(`${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`)),
    '64 is allowed',
  )
  t.ok(jsonNestingExceeds(bytes(`${'[{"a":'.repeat(33)}1${'}]'.repeat(33)}`)), '66, arrays and objects mixed')
  t.notOk(jsonNestingExceeds(bytes(`{"a":"${'['.repeat(1000)}"}`)), 'brackets inside a string')
  t.notOk(
    jsonNestingExceeds(bytes(`{"a":"\\"${'{'.repeat(1000)}"}`)),
    'after an escaped quote, still a string',
  )
  t.notOk(jsonNestingExceeds(bytes(`["é€💩${'['.repeat(10)}"]`)), 'multi-byte characters')
  t.ok(jsonNestingExceeds(bytes('['.repeat(100_000))), 'unclosed brackets count too')
})

t.test('it agrees with the depth of the parsed value', async (t) => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 0, max: 8 }), (value, max) => {
      const text = JSON.stringify(value) ?? 'null'
      return jsonNestingExceeds(bytes(text), max) === depthOf(value) > max
    }),
    { numRuns: 500, seed: 64 },
  )
  t.pass('500 random JSON values')
})
