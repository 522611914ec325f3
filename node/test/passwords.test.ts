// auth/passwords.ts: what a stolen database would reveal of a password, and what a login checks.
import t from 'tap'
import { hashPassword, PASSWORD_COST, verifyPassword } from '../src/auth/passwords.ts'

t.test('a new password is stored salted, with scrypt at OWASP’s cost (N = 2^17, r = 8, p = 1)', async (t) => {
  const first = await hashPassword('correct horse battery')
  const second = await hashPassword('correct horse battery')
  t.match(first, /^scrypt\$131072\$8\$1\$[\w-]{22}\$[\w-]{43}$/)
  t.same(PASSWORD_COST, { N: 2 ** 17, r: 8, p: 1 })
  t.not(first, second, 'the same password hashes differently each time (its own salt)')
  t.notOk(first.includes('correct'), 'the password itself is not in the hash')
  t.ok(await verifyPassword('correct horse battery', first), 'the right password is accepted')
  t.notOk(await verifyPassword('correct horse battery ', first), 'a near miss is refused')
})

t.test(
  'a hash keeps the cost it was made with, so the cost can be raised without locking anyone out',
  async (t) => {
    const older = await hashPassword('s3cret', { N: 2 ** 14, r: 8, p: 1 })
    t.match(older, /^scrypt\$16384\$8\$1\$/)
    t.ok(await verifyPassword('s3cret', older))
    t.notOk(await verifyPassword('S3cret', older))
  },
)

t.test('a stored value that is not a hash of ours never lets anyone in', async (t) => {
  for (const stored of [
    '',
    'plain-text',
    'bcrypt$10$abc',
    'scrypt$131072$8$1$',
    'scrypt$x$y$z$salt$hash',
    'scrypt$3$8$1$c2FsdA$aGFzaA',
  ]) {
    t.notOk(await verifyPassword('', stored), JSON.stringify(stored))
  }
})
