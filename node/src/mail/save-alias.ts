import { eq } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { mailAliases } from '../db/schema.ts'
import { NodeError } from '../errors.ts'
import type { Model, ModelRegistry } from '../models/registry.ts'
import { findRecord } from '../records/repository.ts'
import { parseValues } from '../records/values.ts'
import type { AliasCreate, AliasUpdate } from './alias-schema.ts'
import { InboundError } from './inbound-errors.ts'

type AliasRow = typeof mailAliases.$inferSelect

/**
 * Creates an alias, or changes one (`id`): the model must exist, a record must be one of its records,
 * and the defaults must be values a record of the model could have. Required fields may be missing
 * from them: the intake fills the name from the subject.
 */
export function saveAlias(
  tx: Tx,
  input: {
    registry: ModelRegistry
    now: number
    userId: number
  } & ({ id?: undefined; create: AliasCreate } | { id: number; update: AliasUpdate }),
): AliasRow {
  const current = input.id === undefined ? undefined : findAlias(tx, input.id)
  if (input.id !== undefined && !current) throw new NodeError('E_NOT_FOUND', `no mail alias ${input.id}`)
  const given = 'create' in input ? input.create : input.update
  const modelName = given.model ?? (current ? input.registry.byId(current.modelId)?.name : undefined)
  const model = modelName === undefined ? undefined : input.registry.byName(modelName)
  if (!model) throw invalid('model', `no model "${modelName ?? ''}"`)
  const recordId = given.recordId !== undefined ? given.recordId : (current?.recordId ?? null)
  if (recordId !== null) checkRecord(tx, model, recordId)
  const defaults = given.defaults ?? current?.defaults ?? {}
  checkDefaults(tx, model, defaults)
  const name = given.name ?? current?.name
  if (name === undefined) throw invalid('name', 'required')
  const taken = tx.select().from(mailAliases).where(eq(mailAliases.name, name)).get()
  if (taken && taken.id !== current?.id)
    throw new InboundError('E_MAIL_ALIAS_TAKEN', `"${name}" is alias ${taken.id}`)
  const values = {
    name,
    modelId: model.id,
    recordId,
    defaults,
    contactPolicy: given.contactPolicy ?? current?.contactPolicy ?? 'partners',
    active: given.active ?? current?.active ?? true,
  }
  if (current)
    return tx.update(mailAliases).set(values).where(eq(mailAliases.id, current.id)).returning().get()
  return tx
    .insert(mailAliases)
    .values({ ...values, createdAt: input.now, createdBy: input.userId })
    .returning()
    .get()
}

export function findAlias(tx: Tx, id: number): AliasRow | undefined {
  return tx.select().from(mailAliases).where(eq(mailAliases.id, id)).get()
}

function checkRecord(tx: Tx, model: Model, recordId: number): void {
  const record = findRecord(tx, recordId)
  if (!record) throw invalid('recordId', `no record ${recordId}`)
  if (record.modelId !== model.id) throw invalid('recordId', `record ${recordId} is not a ${model.name}`)
}

/** The defaults as a record update would take them: known fields, valid values, existing people. */
function checkDefaults(tx: Tx, model: Model, defaults: Record<string, unknown>): void {
  try {
    parseValues(tx, model, defaults, { partial: true })
  } catch (error) {
    if (!(error instanceof NodeError)) throw error
    throw new NodeError('E_INVALID_BODY', `defaults: ${error.detail}`, {
      details: (error.details ?? []).map((detail) => ({ ...detail, path: `defaults.${detail.path}` })),
    })
  }
}

function invalid(path: string, message: string): NodeError {
  return new NodeError('E_INVALID_BODY', `${path}: ${message}`, { details: [{ path, message }] })
}
