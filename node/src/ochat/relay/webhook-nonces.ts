import type { NonceStore } from '@ochat/shared-protocol'
import { eq, lt } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { ochatWebhookNonces } from '../../db/schema.ts'

/** Webhook ids seen within the ±300 s window, in SQLite, so a replay is refused across restarts too. */
export function sqliteNonces(db: Db): NonceStore {
  return {
    async claim(key, expiresAtMs, nowMs) {
      db.delete(ochatWebhookNonces).where(lt(ochatWebhookNonces.expiresAt, nowMs)).run()
      if (db.select().from(ochatWebhookNonces).where(eq(ochatWebhookNonces.key, key)).get()) return false
      db.insert(ochatWebhookNonces).values({ key, expiresAt: expiresAtMs }).run()
      return true
    },
  }
}
