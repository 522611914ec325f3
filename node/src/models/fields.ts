import { z } from 'zod'
import type { FieldOptions } from '../db/schema.ts'

export const FIELD_TYPES = [
  'char',
  'text',
  'integer',
  'float',
  'monetary',
  'boolean',
  'date',
  'datetime',
  'selection',
  'user',
  'partner',
] as const
export const FieldTypeSchema = z.enum(FIELD_TYPES)
export type FieldType = z.infer<typeof FieldTypeSchema>

/** A field as the rest of the node sees it (the `model_fields` row, minus storage details). */
export type Field = {
  name: string
  label: string
  type: FieldType
  required: boolean
  trackingSequence: number | null
  assignee: boolean
  restricted: boolean
  options: FieldOptions
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/

/**
 * Schemas built for a field, and for a model's whole field list. Zod builds and compiles a schema on
 * first use at a cost far above a parse, and every record write parses: each is built once. Keyed by
 * the objects themselves: a reload of the models (ModelRegistry.load) makes new ones, so a changed
 * field never meets a stale schema, and the old ones are collected with their model.
 */
const fieldSchemas = new WeakMap<Field, z.ZodType>()
const valuesSchemas = new WeakMap<readonly Field[], { full?: z.ZodType; partial?: z.ZodType }>()

/** The zod schema of one field's value; null clears an optional field. */
export function valueSchema(field: Field): z.ZodType {
  let schema = fieldSchemas.get(field)
  if (!schema) {
    schema = buildValueSchema(field)
    fieldSchemas.set(field, schema)
  }
  return schema
}

/**
 * A record's values as an object of a model's fields, unknown ones refused: on create (`partial`
 * false) the required ones must be there; on update any may be left out.
 */
export function valuesSchema(fields: readonly Field[], options: { partial: boolean }): z.ZodType {
  let built = valuesSchemas.get(fields)
  if (!built) {
    built = {}
    valuesSchemas.set(fields, built)
  }
  const key = options.partial ? 'partial' : 'full'
  let schema = built[key]
  if (!schema) {
    const shape: Record<string, z.ZodType> = {}
    for (const field of fields) {
      const value = valueSchema(field)
      shape[field.name] = options.partial || !field.required ? value.optional() : value
    }
    schema = z.strictObject(shape)
    built[key] = schema
  }
  return schema
}

function buildValueSchema(field: Field): z.ZodType {
  const base = ((): z.ZodType => {
    switch (field.type) {
      case 'char':
        return z.string().max(500)
      case 'text':
        return z.string().max(100_000)
      case 'integer':
        return z.int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER)
      case 'float':
        return z.number().finite()
      case 'monetary':
        // Amounts in the currency's units, e.g. 10000.5 dollars; two decimals are kept.
        return z
          .number()
          .finite()
          .min(-1e13)
          .max(1e13)
          .transform((value) => Math.round(value * 100) / 100)
      case 'boolean':
        return z.boolean()
      case 'date':
        return z
          .string()
          .regex(ISO_DATE, 'a date is YYYY-MM-DD')
          .refine(
            (value) => !Number.isNaN(Date.parse(`${value}T00:00:00Z`)) && isRealDate(value),
            'not a real date',
          )
      case 'datetime':
        // The offset can push 9999-12-31T23:00-14:00 past year 9999, where toISOString writes
        // "+010000-…", a value this schema would then refuse when the client sends it back.
        return z.iso
          .datetime({ offset: true })
          .transform((value) => new Date(value).toISOString())
          .refine((iso) => /^\d{4}-/.test(iso), 'between years 0000 and 9999 in UTC')
      case 'selection': {
        const values = (field.options.choices ?? []).map((choice) => choice.value)
        return z.string().refine((value) => values.includes(value), `one of: ${values.join(', ')}`)
      }
      case 'user':
      case 'partner':
        return z.int().positive()
    }
  })()
  if (!field.required) return base.nullable()
  // A required text must say something: "" or spaces would give a record with no name.
  if (field.type === 'char' || field.type === 'text')
    return base.refine(
      (value) => typeof value === 'string' && value.trim() !== '',
      'required: cannot be empty',
    )
  return base
}

function isRealDate(value: string): boolean {
  return new Date(`${value}T00:00:00Z`).toISOString().slice(0, 10) === value
}

/** What a person saw for a value, for tracking and emails: labels, names, formatted amounts and dates. */
export function displayValue(
  field: Field,
  value: unknown,
  context: {
    locale: string
    currency: string
    timeZone: string
    nameOf: (kind: 'user' | 'partner', id: number) => string
  },
): string | null {
  if (value === null || value === undefined || value === '') return null
  switch (field.type) {
    case 'char':
    case 'text':
      return String(value)
    case 'integer':
    case 'float':
      return new Intl.NumberFormat(context.locale, { maximumFractionDigits: 6 }).format(Number(value))
    case 'monetary':
      return new Intl.NumberFormat(context.locale, {
        style: 'currency',
        currency: field.options.currency ?? context.currency,
      }).format(Number(value))
    case 'boolean':
      return value ? 'Yes' : 'No'
    case 'date':
      return new Intl.DateTimeFormat(context.locale, { dateStyle: 'medium', timeZone: 'UTC' }).format(
        new Date(`${String(value)}T00:00:00Z`),
      )
    case 'datetime':
      return new Intl.DateTimeFormat(context.locale, {
        dateStyle: 'medium',
        timeStyle: 'short',
        timeZone: context.timeZone,
      }).format(new Date(String(value)))
    case 'selection':
      return field.options.choices?.find((choice) => choice.value === value)?.label ?? String(value)
    case 'user':
    case 'partner':
      return context.nameOf(field.type, Number(value))
  }
}
