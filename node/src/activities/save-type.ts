import { eq } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { activityTypes } from '../db/schema.ts'
import { NodeError } from '../errors.ts'
import { type ActivityTypeRow, findAssignee, typeById, typeByKey } from './repository.ts'
import type { TypeCreate, TypeUpdate } from './type-schema.ts'

type TypeSettings = Omit<typeof activityTypes.$inferInsert, 'id' | 'key'>

/**
 * What chaining needs of the next types, and a default user who can take activities. A type left
 * pointing at a missing type would silently chain to nothing when its activities are done.
 */
function checkType(tx: Tx, settings: TypeSettings, ownKey: string): void {
  const next = settings.nextTypeKeys ?? []
  const chaining = settings.chaining ?? 'none'
  for (const key of next) {
    const found = key === ownKey ? true : typeByKey(tx, key)?.active
    if (!found)
      throw new NodeError('E_ACTIVITY_TYPE_UNKNOWN', `nextTypes: there is no activity type "${key}"`)
  }
  if (chaining === 'trigger' && next.length !== 1)
    throw new NodeError(
      'E_ACTIVITY_CHAINING',
      `nextTypes: "trigger" schedules exactly one next type, not ${next.length}`,
    )
  if (chaining === 'suggest' && next.length === 0)
    throw new NodeError('E_ACTIVITY_CHAINING', 'nextTypes: "suggest" needs at least one type to suggest')
  if (chaining === 'none' && next.length > 0)
    throw new NodeError('E_ACTIVITY_CHAINING', 'nextTypes: with chaining "none" there is nothing to chain')
  if (settings.defaultUserId != null && !findAssignee(tx, settings.defaultUserId)?.active)
    throw new NodeError('E_USER_UNKNOWN', `defaultUserId: there is no active user ${settings.defaultUserId}`)
}

/** "Site visit" → "site_visit"; a number is added when the key is taken ("site_visit_2"). */
function freeKey(tx: Tx, name: string): string {
  const base =
    name
      .toLowerCase()
      .normalize('NFKD')
      .replace(/[^a-z0-9]+/g, '_')
      .replace(/^_+|_+$/g, '')
      .slice(0, 48) || 'type'
  for (let n = 1; ; n += 1) {
    const key = n === 1 ? base : `${base}_${n}`
    if (!typeByKey(tx, key)) return key
  }
}

/** Creates an activity type (administrators); its key is fixed from then on. */
export function createType(tx: Tx, input: TypeCreate): ActivityTypeRow {
  const key = input.key ?? freeKey(tx, input.name)
  if (typeByKey(tx, key)) throw new NodeError('E_CONFLICT', `key: the activity type "${key}" exists`)
  const settings: TypeSettings = {
    name: input.name,
    icon: input.icon,
    category: input.category,
    delayCount: input.delay.count,
    delayUnit: input.delay.unit,
    delayFrom: input.delay.from,
    chaining: input.chaining,
    nextTypeKeys: input.nextTypes,
    defaultUserId: input.defaultUserId,
    defaultSummary: input.defaultSummary || null,
    sequence: input.sequence,
  }
  checkType(tx, settings, key)
  return tx
    .insert(activityTypes)
    .values({ key, ...settings })
    .returning()
    .get()
}

/**
 * Changes an activity type; `active: false` archives it. Types are never deleted: done activities keep
 * theirs for reporting. Checked as a whole after the change, so switching chaining and next types in
 * one request works.
 */
export function updateType(tx: Tx, id: number, change: TypeUpdate): ActivityTypeRow {
  const current = typeById(tx, id)
  if (!current) throw new NodeError('E_NOT_FOUND')
  const settings: TypeSettings = {
    name: change.name ?? current.name,
    icon: change.icon ?? current.icon,
    category: change.category ?? current.category,
    delayCount: change.delay?.count ?? current.delayCount,
    delayUnit: change.delay?.unit ?? current.delayUnit,
    delayFrom: change.delay?.from ?? current.delayFrom,
    chaining: change.chaining ?? current.chaining,
    nextTypeKeys: change.nextTypes ?? current.nextTypeKeys,
    defaultUserId: change.defaultUserId !== undefined ? change.defaultUserId : current.defaultUserId,
    defaultSummary:
      change.defaultSummary !== undefined ? change.defaultSummary || null : current.defaultSummary,
    active: change.active ?? current.active,
    sequence: change.sequence ?? current.sequence,
  }
  // Only what the request changes is checked against today's users and types: an archived default
  // user or next type set long ago does not block renaming the type, even when a form sends every
  // field back as it was.
  const sameUser = change.defaultUserId === undefined || change.defaultUserId === current.defaultUserId
  const sameChain =
    (change.nextTypes === undefined ||
      JSON.stringify(change.nextTypes) === JSON.stringify(current.nextTypeKeys)) &&
    (change.chaining === undefined || change.chaining === current.chaining)
  checkType(
    tx,
    {
      ...settings,
      ...(sameUser ? { defaultUserId: null } : {}),
      ...(sameChain ? { nextTypeKeys: [], chaining: 'none' as const } : {}),
    },
    current.key,
  )
  const updated = tx.update(activityTypes).set(settings).where(eq(activityTypes.id, id)).returning().get()
  if (!updated) throw new NodeError('E_NOT_FOUND')
  return updated
}
