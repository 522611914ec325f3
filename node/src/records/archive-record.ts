import { eq } from 'drizzle-orm'
import type { Principal } from '../auth/principal.ts'
import type { Site } from '../automation/actions.ts'
import { runRules } from '../automation/engine.ts'
import { insertMessage, subtypeByKey } from '../chatter/repository.ts'
import type { Tx } from '../db/client.ts'
import { records } from '../db/schema.ts'
import type { Effects } from '../live/events.ts'
import type { Model, ModelRegistry } from '../models/registry.ts'
import { recordWebhook } from '../webhooks/emit.ts'
import { findRecord, type RecordRow } from './repository.ts'

/**
 * Archives a record, or restores it: it leaves (or rejoins) its model's list and the time-based rules,
 * and keeps its chatter, followers and activities. A line in the chatter says who did it. Archiving
 * runs the model's archive rules in the same transaction: one that fails refuses it whole. Asking for
 * the state the record is already in changes nothing.
 */
export function setArchived(
  tx: Tx,
  input: {
    principal: Principal
    model: Model
    registry: ModelRegistry
    record: RecordRow
    archived: boolean
    site: Site
    now: number
    effects: Effects
  },
): RecordRow {
  const { record, model } = input
  if ((record.archivedAt !== null) === input.archived) return record
  const updated = tx
    .update(records)
    .set({
      archivedAt: input.archived ? input.now : null,
      version: record.version + 1,
      updatedAt: Math.max(input.now, record.updatedAt),
    })
    .where(eq(records.id, record.id))
    .returning()
    .get() as RecordRow
  const message = insertMessage(tx, {
    recordId: record.id,
    type: 'notification',
    kind: 'tracking',
    subtypeId: subtypeByKey(tx, 'tracking').id,
    internal: false,
    authorPartnerId: input.principal.partnerId,
    body: input.archived ? '<p>Archived</p>' : '<p>Restored from the archive</p>',
    createdAt: input.now,
  })
  input.effects.events.push(
    { scope: 'record', recordId: record.id, type: 'record.updated' },
    { scope: 'record', recordId: record.id, type: 'message.created', messageId: message.id },
  )
  recordWebhook(tx, 'record.updated', { record: updated, model, now: input.now })
  if (input.archived)
    runRules(tx, {
      kind: 'archive',
      model,
      registry: input.registry,
      record: updated,
      before: null,
      site: input.site,
      now: input.now,
      effects: input.effects,
    })
  return findRecord(tx, record.id) ?? updated
}
