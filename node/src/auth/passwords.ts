import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'

/** scrypt's cost parameters, stored with each hash so that they can be raised later. */
export type ScryptCost = { N: number; r: number; p: number }

/** What every password is hashed with (OWASP: N=2^17, r=8, p=1). */
export const PASSWORD_COST: ScryptCost = { N: 2 ** 17, r: 8, p: 1 }
const KEY_BYTES = 32
const MAX_MEMORY_BYTES = 256 * 1024 * 1024

function derive(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(
      password.normalize('NFKC'),
      salt,
      KEY_BYTES,
      { N: n, r, p, maxmem: MAX_MEMORY_BYTES },
      (error, key) => (error ? reject(error) : resolve(key)),
    ),
  )
}

/** `scrypt$N$r$p$salt$hash`, salt and hash in base64url. */
export async function hashPassword(password: string, cost: ScryptCost = PASSWORD_COST): Promise<string> {
  const salt = randomBytes(16)
  const key = await derive(password, salt, cost.N, cost.r, cost.p)
  return `scrypt$${cost.N}$${cost.r}$${cost.p}$${salt.toString('base64url')}$${key.toString('base64url')}`
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$')
  if (scheme !== 'scrypt' || !n || !r || !p || !salt || !hash) return false
  const expected = Buffer.from(hash, 'base64url')
  // A stored value with costs scrypt refuses (damaged, or not ours) lets no one in, and is no error.
  const key = await derive(password, Buffer.from(salt, 'base64url'), Number(n), Number(r), Number(p)).catch(
    () => undefined,
  )
  return key !== undefined && key.length === expected.length && timingSafeEqual(key, expected)
}

/** Spent on unknown logins too, so response time does not tell which logins exist. */
let dummyHash: Promise<string> | undefined
export async function burnPasswordCheck(password: string): Promise<void> {
  dummyHash ??= hashPassword('not a real password')
  await verifyPassword(password, await dummyHash)
}
