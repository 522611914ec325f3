import { and, eq, inArray, isNull, sql } from 'drizzle-orm'
import { type Executor, rows } from '../db/client.ts'
import { blobGrants, blobs } from '../db/schema.ts'

export type BlobRow = typeof blobs.$inferSelect

export async function insertBlob(executor: Executor, row: typeof blobs.$inferInsert): Promise<void> {
  await executor.insert(blobs).values(row)
}

export async function findBlob(executor: Executor, id: string): Promise<BlobRow | undefined> {
  const [row] = await executor.select().from(blobs).where(eq(blobs.id, id)).limit(1)
  return row
}

export async function completeBlob(executor: Executor, props: { id: string; nowMs: number }): Promise<void> {
  await executor
    .update(blobs)
    .set({ state: 'complete', completedAt: props.nowMs, uploadTokenHash: null })
    .where(eq(blobs.id, props.id))
}

/** Complete blobs uploaded by `uploader`, with their sizes: the ones its envelopes may list. */
export async function completeBlobsOf(
  executor: Executor,
  uploader: string,
  ids: string[],
): Promise<Map<string, number>> {
  if (ids.length === 0) return new Map()
  const found = await executor
    .select({ id: blobs.id, size: blobs.size })
    .from(blobs)
    .where(and(inArray(blobs.id, ids), eq(blobs.uploader, uploader), eq(blobs.state, 'complete')))
  return new Map(found.map((row) => [row.id, row.size]))
}

export async function hasGrant(
  executor: Executor,
  props: { blobId: string; instanceId: string },
): Promise<boolean> {
  const [row] = await executor
    .select({ blobId: blobGrants.blobId })
    .from(blobGrants)
    .where(and(eq(blobGrants.blobId, props.blobId), eq(blobGrants.instanceId, props.instanceId)))
    .limit(1)
  return row !== undefined
}

export async function markFetched(
  executor: Executor,
  props: { blobId: string; instanceId: string; nowMs: number },
): Promise<void> {
  await executor
    .update(blobGrants)
    .set({ fetchedAt: props.nowMs })
    .where(
      and(
        eq(blobGrants.blobId, props.blobId),
        eq(blobGrants.instanceId, props.instanceId),
        isNull(blobGrants.fetchedAt),
      ),
    )
}

/**
 * Blobs to delete (PROTOCOL.md §8.3): every recipient fetched it and no new grant came for
 * an hour (a bulk send may list one blob in several submits), or it is past its 30 days, or its upload
 * was abandoned for a day, or it was uploaded a day ago and no envelope ever listed it (so uploads
 * cannot be used as free storage).
 */
export async function blobsToDelete(executor: Executor, nowMs: number): Promise<string[]> {
  const found = await rows<{ id: string }>(
    executor,
    sql`select b.id from ${blobs} b
        where b.expires_at < ${nowMs}
           or (b.state = 'uploading' and b.created_at < ${nowMs - 86_400_000})
           or (b.state = 'complete' and b.completed_at < ${nowMs - 86_400_000}
               and not exists (select 1 from ${blobGrants} g where g.blob_id = b.id))
           or (b.state = 'complete'
               and exists (select 1 from ${blobGrants} g where g.blob_id = b.id)
               and not exists (select 1 from ${blobGrants} g where g.blob_id = b.id and (g.fetched_at is null or g.granted_at > ${nowMs - 3_600_000})))
        limit 500`,
  )
  return found.map((row) => row.id)
}

export async function deleteBlobRows(executor: Executor, ids: string[]): Promise<void> {
  if (ids.length === 0) return
  await executor.delete(blobGrants).where(inArray(blobGrants.blobId, ids))
  await executor.delete(blobs).where(inArray(blobs.id, ids))
}
