import { and, eq, inArray } from 'drizzle-orm'
import type { Executor } from '../db/client.ts'
import { envelopes } from '../db/schema.ts'

export type EnvelopeRow = typeof envelopes.$inferSelect

export async function findEnvelopes(executor: Executor, ids: string[]): Promise<EnvelopeRow[]> {
  if (ids.length === 0) return []
  return executor.select().from(envelopes).where(inArray(envelopes.id, ids))
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

export async function insertEnvelopes(
  executor: Executor,
  rows: (typeof envelopes.$inferInsert)[],
): Promise<void> {
  for (let start = 0; start < rows.length; start += 1000) {
    await executor.insert(envelopes).values(rows.slice(start, start + 1000))
  }
}

/** Envelopes whose ciphertext was purged by a revoke: they will never be delivered. */
export async function markPurged(
  executor: Executor,
  props: { ids: string[]; nowMs: number; reason: string },
): Promise<EnvelopeRow[]> {
  if (props.ids.length === 0) return []
  return executor
    .update(envelopes)
    .set({ status: 'purged', failedAt: props.nowMs, reason: props.reason })
    .where(and(inArray(envelopes.id, props.ids), eq(envelopes.status, 'queued')))
    .returning()
}

/** Marks the recipient's envelopes delivered; returns the ones that were still queued. */
export async function markDelivered(
  executor: Executor,
  props: { ids: string[]; recipient: string; sender: string; nowMs: number },
): Promise<EnvelopeRow[]> {
  if (props.ids.length === 0) return []
  return executor
    .update(envelopes)
    .set({ status: 'delivered', deliveredAt: props.nowMs })
    .where(
      and(
        inArray(envelopes.id, props.ids),
        eq(envelopes.recipient, props.recipient),
        eq(envelopes.sender, props.sender),
        eq(envelopes.status, 'queued'),
      ),
    )
    .returning()
}

export async function markRead(
  executor: Executor,
  props: { ids: string[]; recipient: string; sender: string; nowMs: number },
): Promise<void> {
  if (props.ids.length === 0) return
  await executor
    .update(envelopes)
    .set({ readAt: props.nowMs })
    .where(
      and(
        inArray(envelopes.id, props.ids),
        eq(envelopes.recipient, props.recipient),
        eq(envelopes.sender, props.sender),
      ),
    )
}

export async function markFailed(
  executor: Executor,
  props: { ids: string[]; nowMs: number; reason: string },
): Promise<EnvelopeRow[]> {
  if (props.ids.length === 0) return []
  return executor
    .update(envelopes)
    .set({ status: 'failed', failedAt: props.nowMs, reason: props.reason })
    .where(and(inArray(envelopes.id, props.ids), eq(envelopes.status, 'queued')))
    .returning()
}
