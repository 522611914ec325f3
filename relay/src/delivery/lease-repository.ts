import { and, eq, gt, inArray, sql } from 'drizzle-orm'
import type { Executor } from '../db/client.ts'
import { destinations, leases } from '../db/schema.ts'

/**
 * Which replica holds an instance's socket (heartbeat 10 s, expiry 30 s). The
 * newest connection wins: taking a lease from another replica tells it, through LEASE_CHANNEL, to close
 * its socket for that instance.
 */
export const LEASE_CHANNEL = 'ochat_lease'
/** An instance was suspended or rotated its keys: every replica closes its socket, which must authenticate again. */
export const INSTANCE_CHANNEL = 'ochat_instance'

export async function announceInstanceChange(executor: Executor, instanceId: string): Promise<void> {
  await executor.execute(sql`select pg_notify(${INSTANCE_CHANNEL}, ${instanceId})`)
}

/**
 * Takes an instance's lease for this replica and announces it as `instance|replica|generation`.
 * Returns the lease's generation, newer than any taken before for any instance.
 */
export async function takeLease(
  executor: Executor,
  props: { instanceId: string; replicaId: string; nowMs: number; ttlMs: number },
): Promise<number> {
  const [taken] = await executor
    .insert(leases)
    .values({
      instanceId: props.instanceId,
      replicaId: props.replicaId,
      expiresAt: props.nowMs + props.ttlMs,
      generation: sql`nextval('lease_generations')`,
    })
    .onConflictDoUpdate({
      target: leases.instanceId,
      set: {
        replicaId: props.replicaId,
        expiresAt: props.nowMs + props.ttlMs,
        generation: sql`nextval('lease_generations')`,
      },
    })
    .returning({ generation: leases.generation })
  const generation = Number(taken?.generation ?? 0)
  await executor.execute(
    sql`select pg_notify(${LEASE_CHANNEL}, ${`${props.instanceId}|${props.replicaId}|${generation}`})`,
  )
  return generation
}

/** A lease announcement; a payload without a generation (an older replica) counts as newest. */
export function parseLeaseNotice(payload: string): {
  instanceId: string
  holder: string
  generation: number
} {
  const [instanceId = '', holder = '', generation] = payload.split('|')
  const parsed = Number(generation)
  return { instanceId, holder, generation: Number.isSafeInteger(parsed) ? parsed : Number.POSITIVE_INFINITY }
}

export async function renewLeases(
  executor: Executor,
  props: { instanceIds: string[]; replicaId: string; nowMs: number; ttlMs: number },
): Promise<void> {
  if (props.instanceIds.length === 0) return
  await executor
    .update(leases)
    .set({ expiresAt: props.nowMs + props.ttlMs })
    .where(and(eq(leases.replicaId, props.replicaId), inArray(leases.instanceId, props.instanceIds)))
}

/**
 * Gives up a lease when its socket closes, so webhook delivery takes over at once instead of after the
 * lease expires (30 s). Only this very lease: a newer connect (here or elsewhere) keeps its own.
 */
export async function dropLease(
  executor: Executor,
  props: { instanceId: string; replicaId: string; generation: number },
): Promise<void> {
  await executor
    .delete(leases)
    .where(
      and(
        eq(leases.instanceId, props.instanceId),
        eq(leases.replicaId, props.replicaId),
        eq(leases.generation, props.generation),
      ),
    )
}

/** Instances whose socket some replica holds now: the webhook worker leaves them alone. */
export async function liveLeaseHolders(executor: Executor, nowMs: number): Promise<Set<string>> {
  const live = await executor
    .select({ instanceId: leases.instanceId })
    .from(leases)
    .where(gt(leases.expiresAt, nowMs))
  return new Set(live.map((row) => row.instanceId))
}

/** Whether some replica holds this instance's socket now. */
export async function hasLiveLease(executor: Executor, instanceId: string, nowMs: number): Promise<boolean> {
  const live = await executor
    .select({ instanceId: leases.instanceId })
    .from(leases)
    .where(and(eq(leases.instanceId, instanceId), gt(leases.expiresAt, nowMs)))
  return live.length > 0
}

/**
 * Locks a destination's breaker row until the transaction ends, creating it if needed. A failed webhook
 * and a socket connect both take it first, so they never miss each other.
 */
export async function lockDestination(executor: Executor, instanceId: string, nowMs: number): Promise<void> {
  await executor
    .insert(destinations)
    .values({ instanceId, consecutiveFailures: 0, updatedAt: nowMs })
    .onConflictDoUpdate({ target: destinations.instanceId, set: { updatedAt: nowMs } })
}

/** A WebSocket connect resets the destination's breaker: the node is reachable, so its backlog goes now. */
export async function resetBreaker(
  executor: Executor,
  props: { instanceId: string; nowMs: number },
): Promise<void> {
  await executor
    .insert(destinations)
    .values({
      instanceId: props.instanceId,
      consecutiveFailures: 0,
      openUntil: null,
      lastError: null,
      updatedAt: props.nowMs,
    })
    .onConflictDoUpdate({
      target: destinations.instanceId,
      set: { consecutiveFailures: 0, openUntil: null, lastError: null, updatedAt: props.nowMs },
    })
}
