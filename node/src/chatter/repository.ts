import { and, asc, desc, eq, inArray, lt, sql } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { once } from '../db/raw.ts'
import {
  attachments,
  messageMentions,
  messages,
  messageVersions,
  partners,
  subtypes,
  trackingValues,
} from '../db/schema.ts'
import { avatarVersions } from '../people/avatar-repository.ts'
import { messageWebhook } from '../webhooks/emit.ts'

export type MessageRow = typeof messages.$inferSelect
export type MessageKind = MessageRow['kind']

/**
 * Subtypes change only when a model is defined (which forgets this cache): read once per connection.
 */
export const SUBTYPES_CACHE_KEY = 'subtypes.all'

export function allSubtypes(tx: Tx) {
  return once(tx, SUBTYPES_CACHE_KEY, () => tx.select().from(subtypes).all())
}

/** The subtypes a record of this model can carry: the general ones and the model's own. */
export function subtypesOfModel(tx: Tx, modelId: number) {
  return allSubtypes(tx).filter((subtype) => subtype.modelId === null || subtype.modelId === modelId)
}

export function subtypeByKey(tx: Tx, key: string) {
  const row = allSubtypes(tx).find((subtype) => subtype.key === key)
  if (!row) throw new Error(`subtype ${key} is missing: the base data was not created`)
  return row
}

export function insertMessage(tx: Tx, row: typeof messages.$inferInsert): MessageRow {
  const insert = once(tx, 'messages.insert', () =>
    tx
      .insert(messages)
      .values({
        recordId: sql.placeholder('recordId'),
        type: sql.placeholder('type'),
        kind: sql.placeholder('kind'),
        subtypeId: sql.placeholder('subtypeId'),
        internal: sql.placeholder('internal'),
        authorPartnerId: sql.placeholder('authorPartnerId'),
        body: sql.placeholder('body'),
        activityTypeId: sql.placeholder('activityTypeId'),
        createdAt: sql.placeholder('createdAt'),
      })
      .returning()
      .prepare(),
  )
  const inserted = insert.get({ authorPartnerId: null, activityTypeId: null, ...row })
  if (!inserted) throw new Error('the message insert returned nothing')
  // Every message a record's chatter gets, however it came, is one integrators may hear about.
  const subtypeKey = allSubtypes(tx).find((subtype) => subtype.id === inserted.subtypeId)?.key ?? 'comment'
  messageWebhook(tx, { message: inserted, subtypeKey })
  return inserted
}

export function findMessage(tx: Tx, id: number): MessageRow | undefined {
  return tx.select().from(messages).where(eq(messages.id, id)).get()
}

/** A message's earlier bodies, oldest first. */
export function listVersions(tx: Tx, messageId: number) {
  return tx
    .select()
    .from(messageVersions)
    .where(eq(messageVersions.messageId, messageId))
    .orderBy(asc(messageVersions.id))
    .all()
}

/** One page of a record's chatter, newest first, optionally of some kinds only. */
export function listMessages(
  tx: Tx,
  input: { recordId: number; kinds: MessageKind[] | undefined; before: number | undefined; limit: number },
): MessageRow[] {
  return tx
    .select()
    .from(messages)
    .where(
      and(
        eq(messages.recordId, input.recordId),
        input.kinds ? inArray(messages.kind, input.kinds) : undefined,
        input.before ? lt(messages.id, input.before) : undefined,
      ),
    )
    .orderBy(desc(messages.id))
    .limit(input.limit)
    .all()
}

/** What presenting a page of messages needs, fetched with one query per table. */
export function messageDetails(tx: Tx, rows: MessageRow[]) {
  const ids = rows.map((row) => row.id)
  const authorIds = [
    ...new Set(rows.map((row) => row.authorPartnerId).filter((id): id is number => id !== null)),
  ]
  const subtypeRows = allSubtypes(tx)
  if (ids.length === 0)
    return {
      authors: new Map(),
      tracking: new Map(),
      mentions: new Map(),
      files: new Map(),
      subtypes: subtypeRows,
      avatars: new Map<number, number>(),
    }
  const authors = new Map(
    (authorIds.length
      ? tx
          .select({ id: partners.id, name: partners.name })
          .from(partners)
          .where(inArray(partners.id, authorIds))
          .all()
      : []
    ).map((row) => [row.id, row.name]),
  )
  const group = <T extends { messageId: number | null }>(list: T[]) => {
    const map = new Map<number, T[]>()
    for (const item of list) {
      if (item.messageId === null) continue
      const bucket = map.get(item.messageId) ?? []
      bucket.push(item)
      map.set(item.messageId, bucket)
    }
    return map
  }
  const tracking = group(
    tx
      .select()
      .from(trackingValues)
      .where(inArray(trackingValues.messageId, ids))
      .orderBy(asc(trackingValues.sequence), asc(trackingValues.field))
      .all(),
  )
  const mentions = group(
    tx
      .select({ messageId: messageMentions.messageId, partnerId: partners.id, name: partners.name })
      .from(messageMentions)
      .innerJoin(partners, eq(partners.id, messageMentions.partnerId))
      .where(inArray(messageMentions.messageId, ids))
      .all(),
  )
  const files = group(
    tx
      .select()
      .from(attachments)
      .where(inArray(attachments.messageId, ids))
      .orderBy(asc(attachments.id))
      .all(),
  )
  return { authors, tracking, mentions, files, subtypes: subtypeRows, avatars: avatarVersions(tx, authorIds) }
}
