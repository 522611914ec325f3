import { z } from 'zod'
import type { Model } from './registry.ts'

export const ModelViewSchema = z.object({
  name: z.string(),
  label: z.string(),
  builtin: z.boolean(),
  userAccess: z.enum(['all', 'own']),
  fields: z.array(
    z.object({
      name: z.string(),
      label: z.string(),
      type: z.string(),
      required: z.boolean(),
      trackingSequence: z.int().nullable(),
      assignee: z.boolean(),
      restricted: z.boolean(),
      choices: z.array(z.object({ value: z.string(), label: z.string() })).optional(),
      currency: z.string().optional(),
    }),
  ),
})

export function presentModel(model: Model): z.input<typeof ModelViewSchema> {
  return {
    name: model.name,
    label: model.label,
    builtin: model.builtin,
    userAccess: model.userAccess,
    fields: model.fields.map((field) => ({
      name: field.name,
      label: field.label,
      type: field.type,
      required: field.required,
      trackingSequence: field.trackingSequence,
      assignee: field.assignee,
      restricted: field.restricted,
      ...(field.options.choices ? { choices: field.options.choices } : {}),
      ...(field.options.currency ? { currency: field.options.currency } : {}),
    })),
  }
}
