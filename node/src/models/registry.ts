import { asc, eq } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { modelFields, models } from '../db/schema.ts'
import type { Field, FieldType } from './fields.ts'

export type Model = {
  id: number
  name: string
  label: string
  builtin: boolean
  userAccess: 'all' | 'own'
  fields: Field[]
  /** Tracked fields, by tracking sequence then name (the order changes are listed in). */
  tracked: Field[]
  assigneeField: Field | undefined
}

/**
 * Models with their fields, read once and kept in memory: every record read and write needs them, and
 * they change only when an integrator defines a model (which calls `invalidate`).
 */
export class ModelRegistry {
  #byName = new Map<string, Model>()
  #byId = new Map<number, Model>()
  #loaded = false

  load(tx: Tx): void {
    this.#byName.clear()
    this.#byId.clear()
    const fieldRows = tx.select().from(modelFields).orderBy(asc(modelFields.position)).all()
    for (const row of tx.select().from(models).all()) {
      const fields: Field[] = fieldRows
        .filter((field) => field.modelId === row.id)
        .map((field) => ({
          name: field.name,
          label: field.label,
          type: field.type as FieldType,
          required: field.required,
          trackingSequence: field.trackingSequence,
          assignee: field.assignee,
          restricted: field.restricted,
          options: field.options,
        }))
      const tracked = fields
        .filter((field) => field.trackingSequence !== null)
        .sort((a, b) => (a.trackingSequence ?? 0) - (b.trackingSequence ?? 0) || a.name.localeCompare(b.name))
      const model: Model = {
        id: row.id,
        name: row.name,
        label: row.label,
        builtin: row.builtin,
        userAccess: row.userAccess,
        fields,
        tracked,
        assigneeField: fields.find((field) => field.assignee),
      }
      this.#byName.set(model.name, model)
      this.#byId.set(model.id, model)
    }
    this.#loaded = true
  }

  invalidate(tx: Tx): void {
    this.load(tx)
  }

  byName(name: string): Model | undefined {
    this.#assertLoaded()
    return this.#byName.get(name)
  }

  byId(id: number): Model | undefined {
    this.#assertLoaded()
    return this.#byId.get(id)
  }

  all(): Model[] {
    this.#assertLoaded()
    return [...this.#byName.values()].sort((a, b) => a.id - b.id)
  }

  #assertLoaded(): void {
    if (!this.#loaded) throw new Error('ModelRegistry used before load()')
  }
}

export function findModelRow(tx: Tx, name: string) {
  return tx.select().from(models).where(eq(models.name, name)).get()
}
