import { hashPassword } from '../auth/passwords.ts'
import { randomToken } from '../auth/tokens.ts'
import type { Db } from '../db/client.ts'
import { NodeError } from '../errors.ts'
import { insertPartner, insertUser, loginTaken } from './repository.ts'
import type { UserCreate } from './schema.ts'

/** Creates an internal user and their partner, in one transaction. */
export async function createUser(input: {
  db: Db
  user: UserCreate
  now: number
  /** A hash computed earlier (tests and seeding reuse one to avoid scrypt per user). */
  passwordHash?: string
}) {
  const passwordHash = input.passwordHash ?? (await hashPassword(input.user.password))
  return input.db.transaction((tx) => {
    if (loginTaken(tx, input.user.login))
      throw new NodeError('E_CONFLICT', `the login "${input.user.login}" is taken`)
    const partner = insertPartner(tx, {
      name: input.user.name,
      email: input.user.email,
      internal: true,
      createdAt: input.now,
    })
    const user = insertUser(tx, {
      login: input.user.login,
      passwordHash,
      role: input.user.role,
      partnerId: partner.id,
      notification: input.user.notification,
      timeZone: input.user.timeZone,
      icalToken: randomToken(24),
      createdAt: input.now,
    })
    return { user, partner }
  })
}
