import { and, eq, inArray, type SQL, sql } from 'drizzle-orm'
import type { Executor } from '../db/client.ts'
import { envelopes } from '../db/schema.ts'

export type EnvelopeRow = typeof envelopes.$inferSelect

export async function findEnvelopes(executor: Executor, ids: string[]): Promise<EnvelopeRow[]> {
  if (ids.length === 0) return []
  // One JSON parameter instead of one per id: this runs for every batch on the hot path.
  return executor
    .select()
    .from(envelopes)
    .where(sql`${envelopes.id} = any(${idArray(ids)})`)
}

/**
 * A list as one parameter, for `column = any(…)`: PostgreSQL then looks each value up in the column's
 * index however large it believes the table to be. A join to a JSON recordset instead lets it hash the
 * whole table when its statistics lag behind a fast-growing table.
 */
export function idArray(ids: string[]): SQL {
  return sql`array(select value::uuid from jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb))`
}

/**
 * Envelopes that will never be delivered: `failed` (refused, or past the deadline) or `purged` (the
 * connection was revoked). Only queued ones change; returns those.
 */
export async function markFailed(
  executor: Executor,
  props: { ids: string[]; nowMs: number; reason: string; status?: 'failed' | 'purged' },
): Promise<EnvelopeRow[]> {
  if (props.ids.length === 0) return []
  return executor
    .update(envelopes)
    .set({ status: props.status ?? 'failed', failedAt: props.nowMs, reason: props.reason })
    .where(and(inArray(envelopes.id, props.ids), eq(envelopes.status, 'queued')))
    .returning()
}
