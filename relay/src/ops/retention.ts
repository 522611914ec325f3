import { and, inArray, isNotNull, lt, ne, sql } from 'drizzle-orm'
import { type Db, rows } from '../db/client.ts'
import { envelopes, instances } from '../db/schema.ts'
import { purgeRateWindows } from '../limits/rate-windows.ts'

/** Rows deleted per statement, so a purge never holds long locks. */
const BATCH = 5000

/**
 * Metadata retention (DESIGN.md: 30 days by default): envelope rows whose delivery is settled are
 * deleted once older than the retention, in batches, keeping the tables small. Ciphertext is not
 * here: it left with the queue row when the recipient acknowledged it. The address an instance
 * registered from is forgotten after the same retention, and the per-address counters once their
 * hour has passed: addresses are personal data, kept only while they serve against abuse.
 */
export async function purgeMetadata(db: Db, props: { nowMs: number; retentionMs: number }): Promise<number> {
  const cutoff = props.nowMs - props.retentionMs
  await purgeRateWindows(db, props.nowMs)
  await db
    .update(instances)
    .set({ registeredFrom: null })
    .where(and(isNotNull(instances.registeredFrom), lt(instances.registeredAt, cutoff)))
  let total = 0
  for (;;) {
    const batch = await rows<{ id: string }>(
      db,
      // Ordered so the plan walks envelopes_accepted_at and stops at the cutoff, whatever the statistics
      // say: otherwise a table growing faster than it is analysed is scanned whole every minute.
      sql`select id from ${envelopes} where ${envelopes.acceptedAt} < ${cutoff} and ${envelopes.status} <> 'queued'
          order by ${envelopes.acceptedAt} limit ${BATCH}`,
    )
    if (batch.length === 0) return total
    const deleted = await db
      .delete(envelopes)
      .where(
        and(
          inArray(
            envelopes.id,
            batch.map((row) => row.id),
          ),
          lt(envelopes.acceptedAt, cutoff),
          ne(envelopes.status, 'queued'),
        ),
      )
      .returning({ id: envelopes.id })
    total += deleted.length
    if (batch.length < BATCH) return total
  }
}
