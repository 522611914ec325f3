import { and, eq } from 'drizzle-orm'
import type { Principal } from '../auth/principal.ts'
import { runRules } from '../automation/engine.ts'
import { escapeHtml } from '../chatter/body.ts'
import { insertMessage, subtypeByKey, subtypesOfModel } from '../chatter/repository.ts'
import type { Tx } from '../db/client.ts'
import { records } from '../db/schema.ts'
import { NodeError } from '../errors.ts'
import { follow } from '../followers/repository.ts'
import type { Effects } from '../live/events.ts'
import type { Model, ModelRegistry } from '../models/registry.ts'
import { messageMail } from '../notifications/mail-content.ts'
import { notifyMessage } from '../notifications/notify.ts'
import { partnerIdsOfUsers } from '../people/repository.ts'
import { recordWebhook } from '../webhooks/emit.ts'
import { findRecord, type RecordRow } from './repository.ts'
import { insertTrackingValues, trackedChanges } from './tracking.ts'
import { nameResolver, parseValues } from './values.ts'

type Site = { company: string; publicUrl: string; locale: string; currency: string }

type CreateInput = {
  principal: Principal
  model: Model
  /** For the rules the write runs, whose actions may create records of other models. */
  registry: ModelRegistry
  values: unknown
  site: Site
  now: number
  effects: Effects
}

type UpdateInput = {
  principal: Principal
  model: Model
  registry: ModelRegistry
  record: RecordRow
  version: number
  values: unknown
  site: Site
  now: number
  effects: Effects
}

/**
 * Creates a record: its values, a "<Model> created" message, the creator as follower, and the assignee
 * as follower (told they were assigned, unless they assigned themselves).
 */
export function createRecord(tx: Tx, input: CreateInput): RecordRow {
  const record = insertRecord(tx, input)
  runRules(tx, {
    kind: 'create',
    model: input.model,
    registry: input.registry,
    record,
    before: null,
    site: input.site,
    now: input.now,
    effects: input.effects,
  })
  // A rule may have changed it: the caller answers with the record as it is now.
  return findRecord(tx, record.id) ?? record
}

function insertRecord(tx: Tx, input: CreateInput): RecordRow {
  const { principal, model } = input
  const values = parseValues(tx, model, input.values, { partial: false })
  const assigneeId = model.assigneeField
    ? ((values[model.assigneeField.name] as number | null | undefined) ?? null)
    : null
  const record = tx
    .insert(records)
    .values({
      modelId: model.id,
      name: String(values.name),
      values,
      createdBy: principal.userId,
      assigneeId,
      createdAt: input.now,
      updatedAt: input.now,
    })
    .returning()
    .get()
  recordWebhook(tx, 'record.created', { record, model, now: input.now })
  follow(tx, {
    recordId: record.id,
    partnerId: principal.partnerId,
    subscription: 'all',
    now: input.now,
    existing: 'keep',
  })
  const subtype = subtypeByKey(tx, 'tracking')
  const message = insertMessage(tx, {
    recordId: record.id,
    type: 'notification',
    kind: 'tracking',
    subtypeId: subtype.id,
    internal: false,
    authorPartnerId: principal.partnerId,
    body: `<p>${escapeHtml(model.label)} created</p>`,
    createdAt: input.now,
  })
  assign(tx, {
    ...input,
    record,
    messageId: message.id,
    assigneeId,
    previousAssigneeId: null,
    subtypeKey: subtype.key,
    html: message.body,
    changes: [],
  })
  return record
}

/**
 * Writes new values if `version` is still the record's version (optimistic concurrency), then logs one
 * tracking message for the tracked fields that changed, with old → new as displayed, and notifies the
 * followers subscribed to updates. A newly assigned user follows the record and is told.
 */
export function updateRecord(tx: Tx, input: UpdateInput): RecordRow {
  const updated = writeUpdate(tx, input)
  runRules(tx, {
    kind: 'update',
    model: input.model,
    registry: input.registry,
    record: updated,
    before: input.record.values,
    site: input.site,
    now: input.now,
    effects: input.effects,
  })
  return findRecord(tx, updated.id) ?? updated
}

function writeUpdate(tx: Tx, input: UpdateInput): RecordRow {
  const { principal, model, record } = input
  if (input.version !== record.version)
    throw new NodeError(
      'E_VERSION_CONFLICT',
      `the record is at version ${record.version}, not ${input.version}`,
    )
  const patch = parseValues(tx, model, input.values, { partial: true })
  const after = { ...record.values, ...patch }
  const assigneeId = model.assigneeField
    ? ((after[model.assigneeField.name] as number | null | undefined) ?? null)
    : null
  const updated = tx
    .update(records)
    .set({
      values: after,
      name: String(after.name),
      assigneeId,
      version: record.version + 1,
      updatedAt: input.now,
    })
    .where(and(eq(records.id, record.id), eq(records.version, record.version)))
    .returning()
    .get()
  if (!updated) throw new NodeError('E_VERSION_CONFLICT', 'the record changed while it was being written')
  input.effects.events.push({ scope: 'record', recordId: record.id, type: 'record.updated' })
  recordWebhook(tx, 'record.updated', { record: updated, model, now: input.now })

  const changes = trackedChanges(tx, {
    model,
    before: record.values,
    after,
    display: { locale: input.site.locale, currency: input.site.currency, timeZone: principal.timeZone },
  })
  // An assignee field need not be tracked; assigning someone is still logged, followed and told.
  const assigneeChanged = assigneeId !== null && assigneeId !== record.assigneeId
  if (changes.length === 0 && !assigneeChanged) return updated
  const body =
    changes.length === 0 && assigneeId !== null
      ? `<p>Assigned to ${escapeHtml(nameResolver(tx)('user', assigneeId))}</p>`
      : ''
  // A stage change is its own subtype, so followers can follow just that.
  const stageSubtype = changes.some((change) => change.field === 'stage')
    ? subtypesOfModel(tx, model.id).find((row) => row.key === `${model.name}.stage`)
    : undefined
  const subtype = stageSubtype ?? subtypeByKey(tx, 'tracking')
  const message = insertMessage(tx, {
    recordId: record.id,
    type: 'tracking',
    kind: 'tracking',
    subtypeId: subtype.id,
    internal: false,
    authorPartnerId: principal.partnerId,
    body,
    createdAt: input.now,
  })
  insertTrackingValues(tx, message.id, changes)
  assign(tx, {
    ...input,
    record: updated,
    messageId: message.id,
    assigneeId,
    previousAssigneeId: record.assigneeId,
    subtypeKey: subtype.key,
    subtypeParentKey: subtype.parentKey,
    html: body,
    changes,
  })
  return updated
}

/** Follows up a creation or tracking message: the new assignee follows, then everyone concerned is told. */
function assign(
  tx: Tx,
  input: {
    principal: Principal
    model: Model
    record: RecordRow
    site: Site
    now: number
    effects: Effects
    messageId: number
    assigneeId: number | null
    previousAssigneeId: number | null
    subtypeKey: string
    subtypeParentKey?: string | null
    html: string
    changes: { label: string; oldDisplay: string | null; newDisplay: string | null; restricted: boolean }[]
  },
): void {
  const explicit: { partnerId: number; reason: 'assigned' }[] = []
  if (input.assigneeId !== null && input.assigneeId !== input.previousAssigneeId) {
    const partnerId = partnerIdsOfUsers(tx, [input.assigneeId]).get(input.assigneeId)
    if (partnerId !== undefined) {
      follow(tx, {
        recordId: input.record.id,
        partnerId,
        subscription: 'all',
        now: input.now,
        existing: 'keep',
      })
      explicit.push({ partnerId, reason: 'assigned' })
    }
  }
  notifyMessage(tx, {
    message: {
      id: input.messageId,
      recordId: input.record.id,
      internal: false,
      subtypeKey: input.subtypeKey,
      subtypeParentKey: input.subtypeParentKey ?? null,
      authorPartnerId: input.principal.partnerId,
    },
    explicit,
    mail: messageMail({
      company: input.site.company,
      publicUrl: input.site.publicUrl,
      record: input.record,
      modelLabel: input.model.label,
      authorName: input.principal.name,
      html: input.html,
      tracking: input.changes.map((change) => ({
        label: change.label,
        old: change.oldDisplay,
        new: change.newDisplay,
        restricted: change.restricted,
      })),
    }),
    now: input.now,
    effects: input.effects,
  })
  input.effects.events.push({
    scope: 'record',
    recordId: input.record.id,
    type: 'message.created',
    messageId: input.messageId,
  })
}
