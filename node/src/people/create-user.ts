import { eq } from 'drizzle-orm'
import { hashPassword } from '../auth/passwords.ts'
import { randomToken } from '../auth/tokens.ts'
import type { Db } from '../db/client.ts'
import { partners, users } from '../db/schema.ts'
import { NodeError } from '../errors.ts'
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
    if (tx.select({ id: users.id }).from(users).where(eq(users.login, input.user.login)).get())
      throw new NodeError('E_CONFLICT', `the login "${input.user.login}" is taken`)
    const partner = tx
      .insert(partners)
      .values({ name: input.user.name, email: input.user.email, internal: true, createdAt: input.now })
      .returning()
      .get()
    const user = tx
      .insert(users)
      .values({
        login: input.user.login,
        passwordHash,
        role: input.user.role,
        partnerId: partner.id,
        notification: input.user.notification,
        timeZone: input.user.timeZone,
        icalToken: randomToken(24),
        createdAt: input.now,
      })
      .returning()
      .get()
    return { user, partner }
  })
}
