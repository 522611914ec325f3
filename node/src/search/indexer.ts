import { sql } from 'drizzle-orm'
import type { Db, Tx } from '../db/client.ts'
import type { WriteQueue } from '../db/write-queue.ts'
import type { ModelRegistry } from '../models/registry.ts'
import type { SearchKind } from './schema.ts'

/**
 * Keeps the full-text index in step with what was written. The migration's triggers note every
 * insert and update of a record, message or O'Chat message in `search_pending` (and take deleted rows
 * out at once), whatever code path wrote them; this turns the noted rows into text. It runs before a
 * search answers, so a search always sees every write committed before it.
 */

/** Rows indexed per write job: a large backlog (a first start on an old database) does not hold the queue. */
const BATCH_ROWS = 2000

const TABLES: Record<SearchKind, string> = {
  record: 'search_records',
  message: 'search_messages',
  ochat: 'search_ochat',
}

export function hasPending(db: Db): boolean {
  return (
    db.get<{ found: number } | undefined>(sql`select 1 as found from search_pending limit 1`) !== undefined
  )
}

/** Indexes everything noted so far, one batch per write job. */
export async function catchUp(input: { db: Db; writes: WriteQueue; registry: ModelRegistry }): Promise<void> {
  while (hasPending(input.db)) await input.writes.run((tx) => indexBatch(tx, input.registry))
}

/** Indexes one batch of noted rows; returns how many it took. */
export function indexBatch(tx: Tx, registry: ModelRegistry): number {
  const pending = tx.all<{ kind: SearchKind; id: number }>(
    sql`select kind, id from search_pending limit ${BATCH_ROWS}`,
  )
  for (const { kind, id } of pending) {
    const table = sql.identifier(TABLES[kind])
    const text = textOf(tx, registry, kind, id)
    tx.run(sql`delete from ${table} where rowid = ${id}`)
    if (text) tx.run(sql`insert into ${table} (rowid, text) values (${id}, ${text})`)
    tx.run(sql`delete from search_pending where kind = ${kind} and id = ${id}`)
  }
  return pending.length
}

/** The words a row is found by; undefined when the row is gone. */
function textOf(tx: Tx, registry: ModelRegistry, kind: SearchKind, id: number): string | undefined {
  if (kind === 'record') {
    const row = tx.get<{ name: string; modelId: number; values: string } | undefined>(
      sql`select name, model_id as modelId, "values" from records where id = ${id}`,
    )
    if (!row) return undefined
    return [row.name, ...textValues(registry, row.modelId, row.values)].join('\n')
  }
  if (kind === 'message') {
    const row = tx.get<{ body: string } | undefined>(sql`select body from messages where id = ${id}`)
    return row && htmlText(row.body)
  }
  const row = tx.get<{ html: string } | undefined>(sql`select html from ochat_messages where id = ${id}`)
  return row && htmlText(row.html)
}

/**
 * The values of a record's char and text fields: what people type and look for. Selections, dates,
 * numbers and links to people are filters, not words. A restricted field is for internal users only,
 * and a snippet would show it to anyone who may read the record: it is left out.
 */
function textValues(registry: ModelRegistry, modelId: number, json: string): string[] {
  const model = registry.byId(modelId)
  if (!model) return []
  const values = JSON.parse(json) as Record<string, unknown>
  return model.fields
    .filter(
      (field) =>
        (field.type === 'char' || field.type === 'text') && !field.restricted && field.name !== 'name',
    )
    .map((field) => values[field.name])
    .filter((value): value is string => typeof value === 'string' && value !== '')
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' }

/**
 * The words of a body the node sanitized when it was stored (so its text has no raw `<`): tags become
 * spaces and entities characters. A parser would cost as much as the rest of indexing together.
 */
export function htmlText(html: string): string {
  return html
    .replace(/<[^>]*>/g, ' ')
    .replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (entity, name: string) => {
      if (name[0] !== '#') return ENTITIES[name.toLowerCase()] ?? entity
      const code =
        name[1] === 'x' || name[1] === 'X' ? Number.parseInt(name.slice(2), 16) : Number(name.slice(1))
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : ' '
    })
    .replace(/\s+/g, ' ')
    .trim()
}
