import { eq, or, type SQL, sql } from 'drizzle-orm'
import type { Principal } from '../auth/principal.ts'
import type { Tx } from '../db/client.ts'
import { followers, models, records } from '../db/schema.ts'
import { NodeError } from '../errors.ts'
import { isFollower } from '../followers/repository.ts'
import type { Model, ModelRegistry } from '../models/registry.ts'
import { findRecord, type RecordRow } from '../records/repository.ts'
import { seesEverything } from './roles.ts'

/**
 * Who may see a record (deny by default, and do not reveal what exists):
 * admins see everything; users see every record of an `all` model, and only their own records of an
 * `own` model: created by them, assigned to them, or followed by them. Anything else is "not found",
 * exactly like a record that does not exist. Writing needs the same right as reading, and so do a
 * record's chatter, followers, activities, files and inbox notifications.
 *
 * This is the rule as a condition over `records`, for lists; `canRead` is the same rule for one
 * record already loaded.
 */
export function readableCondition(principal: Principal, model: Model): SQL | undefined {
  if (seesEverything(principal) || model.userAccess === 'all') return undefined
  return ownCondition(principal)
}

/**
 * The same rule over records of any model, for lists that span models (the inbox): a query using it
 * must join `models`.
 */
export function readableAnyModelCondition(principal: Principal): SQL | undefined {
  if (seesEverything(principal)) return undefined
  return or(eq(models.userAccess, 'all'), ownCondition(principal))
}

function ownCondition(principal: Principal): SQL | undefined {
  return or(
    eq(records.createdBy, principal.userId),
    eq(records.assigneeId, principal.userId),
    // drizzle's exists() adds no parentheses around raw SQL ("exists select 1…" is a syntax error).
    sql`exists (select 1 from ${followers} where ${followers.recordId} = ${records.id} and ${followers.partnerId} = ${principal.partnerId})`,
  )
}

export function canRead(tx: Tx, principal: Principal, model: Model, record: RecordRow): boolean {
  if (seesEverything(principal) || model.userAccess === 'all') return true
  if (record.createdBy === principal.userId || record.assigneeId === principal.userId) return true
  return isFollower(tx, record.id, principal.partnerId)
}

/**
 * The record and its model, or E_NOT_FOUND when it does not exist or the caller may not see it: the
 * same answer for both, so an id tells nothing about records one may not see. Every route and command
 * that reaches a record by id goes through here.
 */
export function loadRecord(
  tx: Tx,
  input: { principal: Principal; registry: ModelRegistry; recordId: number; modelName?: string },
): { record: RecordRow; model: Model } {
  const record = findRecord(tx, input.recordId)
  const model = record ? input.registry.byId(record.modelId) : undefined
  if (!record || !model || (input.modelName !== undefined && model.name !== input.modelName))
    throw new NodeError('E_NOT_FOUND')
  if (!canRead(tx, input.principal, model, record)) throw new NodeError('E_NOT_FOUND')
  return { record, model }
}
