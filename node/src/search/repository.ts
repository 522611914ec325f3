import { and, isNotNull, isNull, type SQL, sql } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { messages, models, ochatChannels, ochatConnections, ochatMessages, records } from '../db/schema.ts'

/**
 * The full-text queries, one per kind. Each takes the caller's access condition (from `policies/`)
 * and applies it in the same statement as the match, so a row the caller may not see is neither
 * returned nor counted. Hits come newest first (by id), which keeps cursors stable and lets SQLite
 * stop at the page's end.
 */

/** Marks around each matched word in a snippet: control characters no indexed text contains. */
export const MARK_START = '\u0001'
export const MARK_END = '\u0002'
/** Words of context a snippet shows around its matches. */
const SNIPPET_WORDS = 16

export type Match = {
  /** The FTS5 query (search/query.ts). */
  fts: string
  /** Archived records (and their chatter): 'false' leaves them out, 'true' keeps only them. */
  archived: 'false' | 'true' | 'all'
}

export type Page = { before: number | undefined; limit: number }

const snippet = (table: string) => sql.raw(`snippet(${table}, 0, char(1), char(2), '…', ${SNIPPET_WORDS})`)

function archivedCondition(archived: Match['archived']): SQL | undefined {
  if (archived === 'false') return isNull(records.archivedAt)
  if (archived === 'true') return isNotNull(records.archivedAt)
  return undefined
}

const where = (...conditions: (SQL | undefined)[]) => and(...conditions) ?? sql`1`

export type RecordHit = { id: number; name: string; model: string; at: number; snippet: string }

/** `readable`: policies' readableAnyModelCondition (the query joins `models`). */
export function recordHits(tx: Tx, match: Match, readable: SQL | undefined, page: Page): RecordHit[] {
  return tx.all<RecordHit>(sql`
    select ${records.id} as id, ${records.name} as name, ${models.name} as model,
      ${records.updatedAt} as at, ${snippet('search_records')} as snippet
    from search_records
    join ${records} on ${records.id} = search_records.rowid
    join ${models} on ${models.id} = ${records.modelId}
    where search_records match ${match.fts}
      and ${where(archivedCondition(match.archived), readable, before('search_records', page))}
    order by search_records.rowid desc limit ${page.limit}`)
}

export function countRecords(tx: Tx, match: Match, readable: SQL | undefined): number {
  return count(
    tx,
    sql`select 1 from search_records
    join ${records} on ${records.id} = search_records.rowid
    join ${models} on ${models.id} = ${records.modelId}
    where search_records match ${match.fts} and ${where(archivedCondition(match.archived), readable)}`,
  )
}

export type MessageHit = {
  id: number
  recordId: number
  recordName: string
  model: string
  at: number
  snippet: string
}

/**
 * Chatter messages of records the caller may read, never a deleted one. `visible`: any further rule on
 * `messages` (which subtypes the caller may see).
 */
export function messageHits(
  tx: Tx,
  match: Match,
  access: { readable: SQL | undefined; visible: SQL | undefined },
  page: Page,
): MessageHit[] {
  return tx.all<MessageHit>(sql`
    select ${messages.id} as id, ${records.id} as recordId, ${records.name} as recordName,
      ${models.name} as model, ${messages.createdAt} as at, ${snippet('search_messages')} as snippet
    from search_messages
    join ${messages} on ${messages.id} = search_messages.rowid
    join ${records} on ${records.id} = ${messages.recordId}
    join ${models} on ${models.id} = ${records.modelId}
    where search_messages match ${match.fts}
      and ${where(isNull(messages.deletedAt), access.visible, archivedCondition(match.archived), access.readable, before('search_messages', page))}
    order by search_messages.rowid desc limit ${page.limit}`)
}

export function countMessages(
  tx: Tx,
  match: Match,
  access: { readable: SQL | undefined; visible: SQL | undefined },
): number {
  return count(
    tx,
    sql`select 1 from search_messages
    join ${messages} on ${messages.id} = search_messages.rowid
    join ${records} on ${records.id} = ${messages.recordId}
    join ${models} on ${models.id} = ${records.modelId}
    where search_messages match ${match.fts}
      and ${where(isNull(messages.deletedAt), access.visible, archivedCondition(match.archived), access.readable)}`,
  )
}

export type OchatHit = { id: number; channelId: number; channelName: string; at: number; snippet: string }

/** `readable`: policies' readableChannelCondition over `ochat_messages.channel_id`. */
export function ochatHits(tx: Tx, fts: string, readable: SQL | undefined, page: Page): OchatHit[] {
  return tx.all<OchatHit>(sql`
    select ${ochatMessages.id} as id, ${ochatMessages.channelId} as channelId,
      ${ochatConnections.peerName} as channelName, ${ochatMessages.createdAt} as at,
      ${snippet('search_ochat')} as snippet
    from search_ochat
    join ${ochatMessages} on ${ochatMessages.id} = search_ochat.rowid
    join ${ochatChannels} on ${ochatChannels.id} = ${ochatMessages.channelId}
    join ${ochatConnections} on ${ochatConnections.id} = ${ochatChannels.connectionId}
    where search_ochat match ${fts} and ${where(readable, before('search_ochat', page))}
    order by search_ochat.rowid desc limit ${page.limit}`)
}

export function countOchat(tx: Tx, fts: string, readable: SQL | undefined): number {
  return count(
    tx,
    sql`select 1 from search_ochat
    join ${ochatMessages} on ${ochatMessages.id} = search_ochat.rowid
    where search_ochat match ${fts} and ${where(readable)}`,
  )
}

function before(table: string, page: Page): SQL | undefined {
  return page.before === undefined ? undefined : sql`${sql.raw(table)}.rowid < ${page.before}`
}

/**
 * Counting every match of a common word walks its whole posting list (tens of milliseconds over
 * 100,000 messages); past this many, the exact number tells a person nothing more.
 */
export const COUNT_LIMIT = 1000

/** How many rows `query` (a `select 1 …`) gives, up to COUNT_LIMIT. */
function count(tx: Tx, query: SQL): number {
  return tx.get<{ n: number }>(sql`select count(*) as n from (${query} limit ${COUNT_LIMIT})`).n
}
