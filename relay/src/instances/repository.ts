import { eq } from 'drizzle-orm'
import type { Executor } from '../db/client.ts'
import { instances } from '../db/schema.ts'

export type InstanceRow = typeof instances.$inferSelect

export async function findInstance(executor: Executor, id: string): Promise<InstanceRow | undefined> {
  const [row] = await executor.select().from(instances).where(eq(instances.id, id)).limit(1)
  return row
}

/** Locks the row until the transaction ends, so changes that depend on its state do not interleave. */
export async function lockInstance(executor: Executor, id: string): Promise<InstanceRow | undefined> {
  const [row] = await executor.select().from(instances).where(eq(instances.id, id)).for('update').limit(1)
  return row
}

export async function insertInstance(executor: Executor, row: typeof instances.$inferInsert): Promise<void> {
  await executor.insert(instances).values(row)
}

export async function updateInstance(
  executor: Executor,
  id: string,
  changes: Partial<Omit<InstanceRow, 'id' | 'registeredAt'>>,
): Promise<InstanceRow | undefined> {
  const [row] = await executor.update(instances).set(changes).where(eq(instances.id, id)).returning()
  return row
}

export async function listInstances(executor: Executor): Promise<InstanceRow[]> {
  return executor.select().from(instances).orderBy(instances.registeredAt)
}
