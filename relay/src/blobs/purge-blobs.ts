import type { Db } from '../db/client.ts'
import type { BlobStore } from './blob-store.ts'
import { blobsToDelete, deleteBlobRows } from './repository.ts'

/** Deletes blobs every recipient fetched, and those past 30 days (PROTOCOL.md §8.3). */
export async function purgeBlobs(db: Db, store: BlobStore, nowMs: number): Promise<number> {
  const ids = await blobsToDelete(db, nowMs)
  for (const id of ids) await store.delete(id)
  await deleteBlobRows(db, ids)
  return ids.length
}
