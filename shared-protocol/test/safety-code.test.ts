// PROTOCOL.md §3.3: the connection safety code.
import t from 'tap'
import { safetyCode } from '../src/crypto/safety-code.ts'
import { buildInstance } from './factories.ts'

const alice = buildInstance()
const bob = buildInstance()

t.test('both sides compute the same 60 digits, in 12 groups of five', async (t) => {
  const fromAlice = safetyCode(alice, bob)
  const fromBob = safetyCode(bob, alice)
  t.same(fromAlice, fromBob)
  t.match(fromAlice.digits, /^\d{60}$/)
  t.equal(fromAlice.groups.length, 12)
  t.match(fromAlice.display, /^(\d{5} ){3}\d{5}\n(\d{5} ){3}\d{5}\n(\d{5} ){3}\d{5}$/)
})

t.test('a change of any of the four keys, or of the peer, changes the code', async (t) => {
  const before = safetyCode(alice, bob).digits
  const other = buildInstance()
  for (const [side, key] of [
    ['alice', 'identityKey'],
    ['alice', 'encryptionKey'],
    ['bob', 'identityKey'],
    ['bob', 'encryptionKey'],
  ] as const) {
    const changed = (who: typeof alice) => ({ ...who, keys: { ...who.keys, [key]: other.keys[key] } })
    const code = side === 'alice' ? safetyCode(changed(alice), bob) : safetyCode(alice, changed(bob))
    t.not(code.digits, before, `${side}'s ${key}`)
  }
  t.not(safetyCode(alice, other).digits, before, 'another peer')
})
