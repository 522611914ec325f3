import { and, inArray, isNotNull, lt, ne, sql } from 'drizzle-orm'
import { type Db, rows } from '../db/client.ts'
import { envelopes, instances } from '../db/schema.ts'
import { purgeRateWindows } from '../limits/rate-windows.ts'

/** Rows deleted per statement, so a purge never holds long locks. */
const BATCH = 5000

/**
 * Metadata retention (`metadataRetentionMs`, 30 days by default): envelope rows whose delivery is
 * settled are deleted once older than the retention, in batches, keeping the tables small.
 * Ciphertext is not here: it left with the queue row when the recipient acknowledged it. The
 * address an instance registered from is forgotten after the same retention, and the per-address
 * counters once their hour has passed: addresses are personal data, kept only while they serve
 * against abuse.
 *
 * The three are separate jobs: one that fails (each failure is reported) does not hold up the others.
 * Resolves to the number of envelope rows deleted.
 */
export async function purgeMetadata(db: Db, props: { nowMs: number; retentionMs: number }): Promise<number> {
  const cutoff = props.nowMs - props.retentionMs
  const [deleted, ...others] = await Promise.allSettled([
    purgeEnvelopeMetadata(db, cutoff),
    forgetRegistrationAddresses(db, cutoff),
    purgeRateWindows(db, props.nowMs),
  ])
  const failures = [deleted, ...others].flatMap((outcome) =>
    outcome?.status === 'rejected' ? [outcome.reason as unknown] : [],
  )
  if (failures.length === 1) throw failures[0]
  if (failures.length > 1) {
    const messages = failures.map((failure) => (failure instanceof Error ? failure.message : String(failure)))
    throw new AggregateError(failures, `${failures.length} retention jobs failed: ${messages.join('; ')}`)
  }
  return deleted?.status === 'fulfilled' ? deleted.value : 0
}

async function forgetRegistrationAddresses(db: Db, cutoff: number): Promise<void> {
  await db
    .update(instances)
    .set({ registeredFrom: null })
    .where(and(isNotNull(instances.registeredFrom), lt(instances.registeredAt, cutoff)))
}

async function purgeEnvelopeMetadata(db: Db, cutoff: number): Promise<number> {
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
