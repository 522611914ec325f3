import type { NonceStore } from '@ochat/shared-protocol'
import { lt, sql } from 'drizzle-orm'
import { type Db, type Executor, rows } from '../db/client.ts'
import { nonces } from '../db/schema.ts'

/**
 * Nonces in PostgreSQL, shared by every replica. A claim is one statement: insert, or take over a row
 * whose time has passed; a live row means a replay. The purge job deletes expired rows.
 */
export function databaseNonceStore(db: Db): NonceStore {
  return {
    async claim(nonce, expiresAtMs, nowMs) {
      return db.transaction(async (tx) => {
        // The claim is made visible at once but not waited for on disk: after a database crash the last
        // few hundred milliseconds of claims can be lost, so a request signed just before could be
        // replayed within its 300 s. What a replay could do then is bounded: a repeated envelope submit
        // or receipt is answered as a duplicate, a registration or decision cannot be applied twice, and
        // a replayed connection request or blob declaration adds a pending request or an empty upload
        // that expires. Waiting for the disk instead would cap signed requests at one fsync each.
        await tx.execute(sql`set local synchronous_commit to off`)
        const claimed = await rows<{ key: string }>(
          tx,
          sql`insert into ${nonces} (key, expires_at) values (${nonce}, ${expiresAtMs})
              on conflict (key) do update set expires_at = excluded.expires_at
              where ${nonces.expiresAt} <= ${nowMs}
              returning key`,
        )
        return claimed.length === 1
      })
    },
  }
}

export async function purgeExpiredNonces(executor: Executor, nowMs: number): Promise<void> {
  await executor.delete(nonces).where(lt(nonces.expiresAt, nowMs))
}
