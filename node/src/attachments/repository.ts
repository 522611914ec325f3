import { count, eq } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { attachments } from '../db/schema.ts'

export type AttachmentRow = typeof attachments.$inferSelect

export function insertAttachment(tx: Tx, row: typeof attachments.$inferInsert): AttachmentRow {
  return tx.insert(attachments).values(row).returning().get()
}

export function findAttachment(tx: Tx, id: number): AttachmentRow | undefined {
  return tx.select().from(attachments).where(eq(attachments.id, id)).get()
}

export function deleteAttachmentRow(tx: Tx, id: number): void {
  tx.delete(attachments).where(eq(attachments.id, id)).run()
}

/** How many rows point at this content; the file on disk goes when this reaches 0. */
export function countContentReferences(tx: Tx, sha256: string): number {
  return tx.select({ n: count() }).from(attachments).where(eq(attachments.sha256, sha256)).get()?.n ?? 0
}
