import { and, eq, inArray, sql } from 'drizzle-orm'
import type { Executor } from '../db/client.ts'
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
 * Marks the recipient's envelopes delivered; returns the ones that were still queued. The caller has
 * checked each id's sender against the receipt.
 */
export async function markDelivered(
  executor: Executor,
  props: { ids: string[]; recipient: string; nowMs: number },
): Promise<EnvelopeRow[]> {
  if (props.ids.length === 0) return []
  return executor
    .update(envelopes)
    .set({ status: 'delivered', deliveredAt: props.nowMs })
    .where(
      and(
        inArray(envelopes.id, props.ids),
        eq(envelopes.recipient, props.recipient),
        eq(envelopes.status, 'queued'),
      ),
    )
    .returning()
}

export async function markRead(
  executor: Executor,
  props: { ids: string[]; recipient: string; nowMs: number },
): Promise<void> {
  if (props.ids.length === 0) return
  await executor
    .update(envelopes)
    .set({ readAt: props.nowMs })
    .where(and(inArray(envelopes.id, props.ids), eq(envelopes.recipient, props.recipient)))
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
