import { createHash, randomBytes } from 'node:crypto'
import { and, eq, gt, isNull } from 'drizzle-orm'
import type { Executor } from '../db/client.ts'
import { invites } from '../db/schema.ts'

/** One-time registration tokens. Only their SHA-256 is stored. */

const hash = (token: string) => createHash('sha256').update(token).digest('base64url')

export async function createInvite(
  executor: Executor,
  props: { nowMs: number /** default 7 days */; ttlMs?: number; note?: string },
): Promise<{ token: string; expiresAt: number }> {
  const token = `inv_${randomBytes(24).toString('base64url')}`
  const expiresAt = props.nowMs + (props.ttlMs ?? 7 * 24 * 3600 * 1000)
  await executor
    .insert(invites)
    .values({ tokenHash: hash(token), note: props.note ?? '', createdAt: props.nowMs, expiresAt })
  return { token, expiresAt }
}

/** Marks the token used by `instanceId`; false if it is unknown, expired or already used. */
export async function consumeInvite(
  executor: Executor,
  props: { token: string; instanceId: string; nowMs: number },
): Promise<boolean> {
  const used = await executor
    .update(invites)
    .set({ usedAt: props.nowMs, usedBy: props.instanceId })
    .where(
      and(
        eq(invites.tokenHash, hash(props.token)),
        isNull(invites.usedAt),
        gt(invites.expiresAt, props.nowMs),
      ),
    )
    .returning({ tokenHash: invites.tokenHash })
  return used.length === 1
}

/** Whether a token could be used now, without using it (the registration uses it in its transaction). */
export async function inviteIsUsable(
  executor: Executor,
  props: { token: string; nowMs: number },
): Promise<boolean> {
  const [row] = await executor
    .select({ tokenHash: invites.tokenHash })
    .from(invites)
    .where(
      and(
        eq(invites.tokenHash, hash(props.token)),
        isNull(invites.usedAt),
        gt(invites.expiresAt, props.nowMs),
      ),
    )
    .limit(1)
  return row !== undefined
}
