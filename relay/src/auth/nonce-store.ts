import type { NonceStore } from '@ochat/shared-protocol'
import { lt, sql } from 'drizzle-orm'
import { type Executor, rows } from '../db/client.ts'
import { nonces } from '../db/schema.ts'

/**
 * Nonces in PostgreSQL, shared by every replica. A claim is one statement: insert, or take over a row
 * whose time has passed; a live row means a replay. The purge job deletes expired rows.
 */
export function databaseNonceStore(executor: Executor): NonceStore {
  return {
    async claim(nonce, expiresAtMs, nowMs) {
      const claimed = await rows<{ key: string }>(
        executor,
        sql`insert into ${nonces} (key, expires_at) values (${nonce}, ${expiresAtMs})
            on conflict (key) do update set expires_at = excluded.expires_at
            where ${nonces.expiresAt} <= ${nowMs}
            returning key`,
      )
      return claimed.length === 1
    },
  }
}

export async function purgeExpiredNonces(executor: Executor, nowMs: number): Promise<void> {
  await executor.delete(nonces).where(lt(nonces.expiresAt, nowMs))
}
