import { and, desc, eq, lt, type SQL, sql } from 'drizzle-orm'
import type { Db, Tx } from '../db/client.ts'
import { once } from '../db/raw.ts'
import { attachments, notifications, outgoingMail, records } from '../db/schema.ts'

export type RecordRow = typeof records.$inferSelect

/** Every record-bound request runs this: built once per connection, not per request. */
export function findRecord(tx: Tx, id: number): RecordRow | undefined {
  const query = once(tx, 'records.byId', () =>
    tx
      .select()
      .from(records)
      .where(eq(records.id, sql.placeholder('id')))
      .prepare(),
  )
  return query.get({ id })
}

/**
 * A page of a model's records: newest first (paged by id), or in `orderBy` (paged by offset). `readable`
 * is the access condition from the policies: the list holds only what the caller may see; `where` the
 * list's filters (list-query.ts).
 */
export function listRecords(
  db: Db,
  input: {
    modelId: number
    before: number | undefined
    offset: number
    limit: number
    readable: SQL | undefined
    where: SQL | undefined
    orderBy: SQL[] | undefined
  },
): RecordRow[] {
  return db
    .select()
    .from(records)
    .where(
      and(
        eq(records.modelId, input.modelId),
        input.before ? lt(records.id, input.before) : undefined,
        input.where,
        input.readable,
      ),
    )
    .orderBy(...(input.orderBy ?? [desc(records.id)]))
    .limit(input.limit)
    .offset(input.offset)
    .all()
}

/** The contents (SHA-256) of a record's files: each is removed with it unless another file shares it. */
export function contentsOfRecord(tx: Tx, recordId: number): string[] {
  return tx
    .selectDistinct({ sha256: attachments.sha256 })
    .from(attachments)
    .where(eq(attachments.recordId, recordId))
    .all()
    .map((row) => row.sha256)
}

/**
 * Deletes a record; its chatter, followers, activities and files' rows go by foreign key. Notifications
 * and emails carry no foreign key (db/schema.ts): they go with their record here, so no email about a
 * deleted record is sent later.
 */
export function deleteRecordRows(tx: Tx, recordId: number): void {
  tx.delete(notifications).where(eq(notifications.recordId, recordId)).run()
  tx.delete(outgoingMail).where(eq(outgoingMail.recordId, recordId)).run()
  tx.delete(records).where(eq(records.id, recordId)).run()
}
