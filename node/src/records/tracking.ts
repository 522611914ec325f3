import type { Tx } from '../db/client.ts'
import { trackingValues } from '../db/schema.ts'
import { displayValue } from '../models/fields.ts'
import type { Model } from '../models/registry.ts'
import { nameResolver } from './values.ts'

export type TrackedChange = {
  field: string
  label: string
  type: string
  old: unknown
  new: unknown
  oldDisplay: string | null
  newDisplay: string | null
  restricted: boolean
  sequence: number
}

const isEmpty = (value: unknown) => value === null || value === undefined || value === '' || value === false

/**
 * The tracked fields a write changed, as people saw them before and after, in tracking order
 * (sequence, then name). Empty → empty is not a change: people saw nothing change.
 */
export function trackedChanges(
  tx: Tx,
  input: {
    model: Model
    before: Record<string, unknown>
    after: Record<string, unknown>
    display: { locale: string; currency: string; timeZone: string }
  },
): TrackedChange[] {
  const nameOf = nameResolver(tx)
  const changes: TrackedChange[] = []
  for (const field of input.model.tracked) {
    const oldValue = input.before[field.name] ?? null
    const newValue = input.after[field.name] ?? null
    if (isEmpty(oldValue) && isEmpty(newValue)) continue
    if (JSON.stringify(oldValue) === JSON.stringify(newValue)) continue
    const context = { ...input.display, nameOf }
    changes.push({
      field: field.name,
      label: field.label,
      type: field.type,
      old: oldValue,
      new: newValue,
      oldDisplay: displayValue(field, oldValue, context),
      newDisplay: displayValue(field, newValue, context),
      restricted: field.restricted,
      sequence: field.trackingSequence ?? 100,
    })
  }
  return changes
}

export function insertTrackingValues(tx: Tx, messageId: number, changes: TrackedChange[]): void {
  if (changes.length === 0) return
  tx.insert(trackingValues)
    .values(
      changes.map((change) => ({
        messageId,
        field: change.field,
        fieldLabel: change.label,
        fieldType: change.type,
        oldDisplay: change.oldDisplay,
        newDisplay: change.newDisplay,
        oldValue: change.old,
        newValue: change.new,
        restricted: change.restricted,
        sequence: change.sequence,
      })),
    )
    .run()
}
