import { and, asc, desc, eq, isNotNull, isNull, or, type SQL, sql } from 'drizzle-orm'
import { localDate } from '../activities/dates.ts'
import type { ActivityState } from '../activities/schema.ts'
import type { Db } from '../db/client.ts'
import { activities, partners, records, users } from '../db/schema.ts'
import { NodeError } from '../errors.ts'
import type { Field } from '../models/fields.ts'
import type { Model } from '../models/registry.ts'
import type { RecordListQuery } from './schema.ts'

/** Columns every model's records have, sortable by these names. */
const COLUMNS = { name: records.name, createdAt: records.createdAt, updatedAt: records.updatedAt } as const

/**
 * A sortable field's value in SQL. A long text sorts nothing useful; a restricted field is left out so
 * that its order cannot tell what it holds. People sort by their name, not by their id.
 */
function fieldOrder(field: Field): SQL | undefined {
  if (field.restricted || field.type === 'text') return undefined
  const value = sql`json_extract(${records.values}, ${`$.${field.name}`})`
  if (field.type === 'partner')
    return sql`(select ${partners.name} from ${partners} where ${partners.id} = ${value})`
  if (field.type === 'user')
    return sql`(select ${partners.name} from ${users} join ${partners} on ${partners.id} = ${users.partnerId} where ${users.id} = ${value})`
  return value
}

/** The order of a list: its expression, or 400 for a name that is not a sortable field of the model. */
function sortExpression(model: Model, name: string): SQL | typeof records.name | typeof records.createdAt {
  // Own keys only: `in` would also take inherited names such as toString.
  if (Object.hasOwn(COLUMNS, name)) return COLUMNS[name as keyof typeof COLUMNS]
  const field = model.fields.find((candidate) => candidate.name === name)
  const order = field ? fieldOrder(field) : undefined
  if (!order)
    throw new NodeError('E_INVALID_PARAMS', `sort: "${name}" is not a sortable field of ${model.name}`)
  return order
}

/** `name` and the model's short and long text fields hold what people type into the search box. */
function searchCondition(model: Model, text: string): SQL {
  const pattern = `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
  const texts = model.fields.filter(
    (field) => (field.type === 'char' || field.type === 'text') && field.name !== 'name' && !field.restricted,
  )
  // SQLite's LIKE is case-insensitive for ASCII and has no escape character unless one is named.
  return or(
    sql`${records.name} like ${pattern} escape '\\'`,
    ...texts.map(
      (field) => sql`json_extract(${records.values}, ${`$.${field.name}`}) like ${pattern} escape '\\'`,
    ),
  ) as SQL
}

/**
 * Records whose worst open activity is in `state`. Each activity is judged against today in its
 * assignee's time zone (as records/presenter shows it), so "today" is computed per zone in use.
 */
function activityCondition(db: Db, state: ActivityState, nowMs: number): SQL {
  const zones = db.selectDistinct({ timeZone: users.timeZone }).from(users).all()
  const today = sql`case ${users.timeZone} ${sql.join(
    zones.map((zone) => sql`when ${zone.timeZone} then ${localDate(nowMs, zone.timeZone)}`),
    sql` `,
  )} else ${localDate(nowMs, 'UTC')} end`
  const openWhere = (deadline: SQL) =>
    sql`exists (select 1 from ${activities} join ${users} on ${users.id} = ${activities.assigneeId}
      where ${activities.recordId} = ${records.id} and ${activities.status} = 'open' and ${deadline})`
  const overdue = openWhere(sql`${activities.deadline} < ${today}`)
  const dueToday = openWhere(sql`${activities.deadline} = ${today}`)
  if (state === 'overdue') return overdue
  if (state === 'today') return sql`(${dueToday} and not ${overdue})`
  return sql`(${openWhere(sql`1 = 1`)} and not ${openWhere(sql`${activities.deadline} <= ${today}`)})`
}

/**
 * Sorted lists page by position: a cursor holds the offset (`o` + number). The default list, newest
 * first, keeps id cursors, stable while records are added.
 */
export function decodeOffset(cursor: string | undefined): number {
  if (cursor === undefined) return 0
  const match = /^o(\d{1,9})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'))
  if (!match) throw new NodeError('E_INVALID_PARAMS', 'cursor: not a cursor this API gave out')
  return Number(match[1])
}

export function encodeOffset(offset: number): string {
  return Buffer.from(`o${offset}`).toString('base64url')
}

/** The filters and order of a list query, as SQL over `records`. */
export function listPlan(
  db: Db,
  input: { model: Model; query: RecordListQuery; userId: number; nowMs: number },
): { where: SQL | undefined; orderBy: SQL[] | undefined } {
  const { model, query } = input
  const q = query.q?.trim()
  const where = and(
    query.archived === 'false' ? isNull(records.archivedAt) : undefined,
    query.archived === 'true' ? isNotNull(records.archivedAt) : undefined,
    q ? searchCondition(model, q) : undefined,
    query.mine === 'true' ? eq(records.assigneeId, input.userId) : undefined,
    query.activity ? activityCondition(db, query.activity, input.nowMs) : undefined,
  )
  if (!query.sort) return { where, orderBy: undefined }
  const direction = query.order === 'desc' ? desc : asc
  // The id breaks ties, so equal values keep one order from page to page.
  // Names sort as people read them ("beta" between "Alpha" and "Delta"); numbers are not text and keep
  // their order under the collation.
  const order = sql`${sortExpression(model, query.sort)} collate nocase`
  return { where, orderBy: [direction(order), direction(records.id)] }
}
