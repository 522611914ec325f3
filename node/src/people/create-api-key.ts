import type { Scope } from '../auth/scopes.ts'
import { randomToken, sha256 } from '../auth/tokens.ts'
import type { Db } from '../db/client.ts'
import { type ApiKeyRow, insertApiKey } from './repository.ts'

/**
 * Makes an API key for a user: `ock_<prefix>_<secret>`. Only its SHA-256 is kept; the prefix lets
 * people tell their keys apart. The secret is returned to be shown once.
 */
export function createApiKey(input: { db: Db; userId: number; name: string; scopes: Scope[]; now: number }): {
  row: ApiKeyRow
  secret: string
} {
  const prefix = randomToken(6).slice(0, 8)
  const secret = `ock_${prefix}_${randomToken()}`
  const row = insertApiKey(input.db, {
    userId: input.userId,
    name: input.name,
    prefix,
    secretHash: sha256(secret),
    scopes: input.scopes,
    createdAt: input.now,
  })
  return { row, secret }
}
