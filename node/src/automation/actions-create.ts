import type { Tx } from '../db/client.ts'
import { findRecord, type RecordRow } from '../records/repository.ts'
import { createRecord } from '../records/write-record.ts'
import type { Context } from './actions.ts'
import { AutomationError } from './errors.ts'
import { fillText } from './record-values.ts'
import type { Action } from './schema.ts'

/**
 * A new record, of any model, through the command a person's request runs: its values checked, its
 * creation logged and told, its webhooks queued, and its model's rules run within the same chain
 * (so the engine's depth limit holds across models). Text values have the triggering record's
 * placeholders filled as plain text: they are field values, escaped by whoever shows them.
 */
export function createFromRule(
  tx: Tx,
  action: Extract<Action, { type: 'create_record' }>,
  context: Context,
): { record: RecordRow; said: string } {
  const { record, principal } = context
  const model = context.registry.byName(action.model)
  if (!model) throw new Error(`create_record: there is no model "${action.model}"`)
  const source = { record, model: context.model, site: context.site, timeZone: principal.timeZone }
  const values = Object.fromEntries(
    Object.entries(action.values).map(([name, value]) => [
      name,
      typeof value === 'string' ? fillText(tx, value, source) : value,
    ]),
  )
  let created: RecordRow
  try {
    created = createRecord(tx, {
      principal,
      model,
      registry: context.registry,
      values,
      site: context.site,
      now: context.now,
      effects: context.effects,
    })
  } catch (error) {
    // The model's refusal of the values says what to fix; a rule of the new record failing names
    // itself already, and anything else goes up as it is.
    const detail = (error as { detail?: unknown }).detail
    if (error instanceof AutomationError || typeof detail !== 'string') throw error
    throw new Error(`create_record: the new ${model.label} was refused: ${detail}`, { cause: error })
  }
  // The new record's rules may have written to this one.
  return {
    record: findRecord(tx, record.id) ?? record,
    said: `created ${model.label} #${created.id} “${created.name}”`,
  }
}
