import { and, eq, isNull, sql } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { once } from '../db/raw.ts'
import { apiKeys, partners, sessions, users } from '../db/schema.ts'
import type { Principal } from './principal.ts'
import type { Scope } from './scopes.ts'

const principalColumns = {
  userId: users.id,
  partnerId: users.partnerId,
  role: users.role,
  name: partners.name,
  timeZone: users.timeZone,
  notification: users.notification,
  active: users.active,
}

/** Every UI request runs this: built once per connection. */
export function findSession(tx: Tx, tokenHash: string) {
  const query = once(tx, 'auth.session', () =>
    tx
      .select({ ...principalColumns, csrfToken: sessions.csrfToken, lastSeenAt: sessions.lastSeenAt })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .innerJoin(partners, eq(partners.id, users.partnerId))
      .where(eq(sessions.tokenHash, sql.placeholder('tokenHash')))
      .prepare(),
  )
  return query.get({ tokenHash })
}

export function touchSession(tx: Tx, tokenHash: string, now: number): void {
  tx.update(sessions).set({ lastSeenAt: now }).where(eq(sessions.tokenHash, tokenHash)).run()
}

export function deleteSession(tx: Tx, tokenHash: string): void {
  tx.delete(sessions).where(eq(sessions.tokenHash, tokenHash)).run()
}

/** Every API request runs this: built once per connection. */
export function findApiKey(tx: Tx, secretHash: string) {
  const query = once(tx, 'auth.apiKey', () =>
    tx
      .select({
        ...principalColumns,
        keyId: apiKeys.id,
        scopes: apiKeys.scopes,
        lastUsedAt: apiKeys.lastUsedAt,
      })
      .from(apiKeys)
      .innerJoin(users, eq(users.id, apiKeys.userId))
      .innerJoin(partners, eq(partners.id, users.partnerId))
      .where(and(eq(apiKeys.secretHash, sql.placeholder('secretHash')), isNull(apiKeys.revokedAt)))
      .prepare(),
  )
  return query.get({ secretHash })
}

/** Revokes every live API key of a user (a deactivation, or a password change that asks for it). */
export function revokeApiKeys(tx: Tx, input: { userId: number; now: number }): void {
  tx.update(apiKeys)
    .set({ revokedAt: input.now })
    .where(and(eq(apiKeys.userId, input.userId), isNull(apiKeys.revokedAt)))
    .run()
}

export function touchApiKey(tx: Tx, keyId: number, now: number): void {
  tx.update(apiKeys).set({ lastUsedAt: now }).where(eq(apiKeys.id, keyId)).run()
}

export function toPrincipal(
  row: {
    userId: number
    partnerId: number
    role: 'admin' | 'user'
    name: string
    timeZone: string
    notification: 'inbox' | 'email'
  },
  via: Principal['via'],
  scopes: Scope[] | null,
  csrfToken?: string,
): Principal {
  return {
    userId: row.userId,
    partnerId: row.partnerId,
    role: row.role,
    name: row.name,
    timeZone: row.timeZone,
    notification: row.notification,
    scopes: scopes === null ? null : new Set(scopes),
    via,
    ...(csrfToken ? { csrfToken } : {}),
  }
}
