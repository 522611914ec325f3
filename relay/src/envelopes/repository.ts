import { and, eq, inArray, sql } from 'drizzle-orm'
import { type Executor, rows } from '../db/client.ts'
import { envelopes } from '../db/schema.ts'

export type EnvelopeRow = typeof envelopes.$inferSelect

export async function findEnvelopes(executor: Executor, ids: string[]): Promise<EnvelopeRow[]> {
  if (ids.length === 0) return []
  // One JSON parameter instead of one per id: this runs for every batch on the hot path.
  return executor
    .select()
    .from(envelopes)
    .where(
      sql`${envelopes.id} in (select value::uuid from jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb))`,
    )
}

export async function findEnvelopeOfSender(
  executor: Executor,
  props: { id: string; sender: string },
): Promise<EnvelopeRow | undefined> {
  const [row] = await executor
    .select()
    .from(envelopes)
    .where(and(eq(envelopes.id, props.id), eq(envelopes.sender, props.sender)))
    .limit(1)
  return row
}

/**
 * Marks envelopes delivered, each only if it was sent to the given recipient; returns the ones that were
 * still queued. The caller has checked each id's sender against its receipt.
 */
export async function markDelivered(
  executor: Executor,
  props: { items: { id: string; recipient: string }[]; nowMs: number },
): Promise<{ id: string }[]> {
  if (props.items.length === 0) return []
  return rows<{ id: string }>(
    executor,
    sql`update envelopes e set status = 'delivered', delivered_at = ${props.nowMs}
        from jsonb_to_recordset(${JSON.stringify(props.items)}::jsonb) as x(id uuid, recipient text)
        where e.id = x.id and e.recipient = x.recipient and e.status = 'queued'
        returning e.id`,
  )
}

/** Marks envelopes read, each only if it was sent to the given recipient. */
export async function markRead(
  executor: Executor,
  props: { items: { id: string; recipient: string }[]; nowMs: number },
): Promise<void> {
  if (props.items.length === 0) return
  await executor.execute(
    sql`update envelopes e set read_at = ${props.nowMs}
        from jsonb_to_recordset(${JSON.stringify(props.items)}::jsonb) as x(id uuid, recipient text)
        where e.id = x.id and e.recipient = x.recipient`,
  )
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
