import { z } from 'zod'
import { SUBTYPES_CACHE_KEY } from '../chatter/repository.ts'
import type { Db } from '../db/client.ts'
import { forget } from '../db/raw.ts'
import { modelFields, models, subtypes } from '../db/schema.ts'
import { NodeError } from '../errors.ts'
import type { ModelDefinition } from './builtin.ts'
import { FieldTypeSchema } from './fields.ts'
import { findModelRow, type ModelRegistry } from './registry.ts'

const Identifier = z.string().regex(/^[a-z][a-z0-9_]{1,62}$/, 'lower case letters, digits and _')

/** What an integrator sends to define a model. Custom model names start with `x_`. */
export const ModelDefinitionSchema = z
  .strictObject({
    name: Identifier.refine((name) => name.startsWith('x_'), 'custom model names start with "x_"'),
    label: z.string().trim().min(1).max(100),
    userAccess: z.enum(['all', 'own']).default('all'),
    fields: z
      .array(
        z.strictObject({
          name: Identifier,
          label: z.string().trim().min(1).max(100),
          type: FieldTypeSchema,
          required: z.boolean().default(false),
          /** Set to track the field; lower numbers are listed first. */
          trackingSequence: z.int().min(0).max(10_000).nullable().default(null),
          assignee: z.boolean().default(false),
          restricted: z.boolean().default(false),
          options: z
            .strictObject({
              choices: z
                .array(z.strictObject({ value: Identifier, label: z.string().trim().min(1).max(100) }))
                .min(1)
                .max(100)
                .optional(),
              currency: z
                .string()
                .regex(/^[A-Z]{3}$/)
                .optional(),
            })
            .default({}),
        }),
      )
      .min(1)
      .max(200),
  })
  .superRefine((definition, context) => {
    const names = definition.fields.map((field) => field.name)
    if (new Set(names).size !== names.length)
      context.addIssue({ code: 'custom', path: ['fields'], message: 'field names must be unique' })
    const name = definition.fields.find((field) => field.name === 'name')
    if (name?.type !== 'char' || !name.required)
      context.addIssue({
        code: 'custom',
        path: ['fields'],
        message: 'a model needs a required char field "name"',
      })
    if (definition.fields.filter((field) => field.assignee).length > 1)
      context.addIssue({ code: 'custom', path: ['fields'], message: 'at most one field is the assignee' })
    definition.fields.forEach((field, index) => {
      if (field.assignee && field.type !== 'user')
        context.addIssue({
          code: 'custom',
          path: ['fields', index, 'assignee'],
          message: 'the assignee field must be of type user',
        })
      if (field.type === 'selection' && !field.options.choices)
        context.addIssue({
          code: 'custom',
          path: ['fields', index, 'options', 'choices'],
          message: 'a selection needs choices',
        })
    })
  })

/** Stores a model and its fields in one transaction and refreshes the registry. */
export function defineModel(input: {
  db: Db
  registry: ModelRegistry
  definition: ModelDefinition & { builtin?: boolean }
  now: number
}): void {
  const { db, definition } = input
  db.transaction((tx) => {
    if (findModelRow(tx, definition.name))
      throw new NodeError('E_CONFLICT', `a model named "${definition.name}" exists`)
    const model = tx
      .insert(models)
      .values({
        name: definition.name,
        label: definition.label,
        builtin: definition.builtin ?? false,
        userAccess: definition.userAccess,
        createdAt: input.now,
      })
      .returning({ id: models.id })
      .get()
    definition.fields.forEach((field, position) => {
      tx.insert(modelFields)
        .values({
          modelId: model.id,
          name: field.name,
          label: field.label,
          type: field.type,
          required: field.required ?? false,
          trackingSequence: field.trackingSequence ?? null,
          assignee: field.assignee ?? false,
          restricted: field.restricted ?? false,
          options: field.options ?? {},
          position,
        })
        .run()
    })
    // A model with a stage gets its own "Stage Changed" subtype: followers may follow only that.
    if (definition.fields.some((field) => field.name === 'stage' && field.type === 'selection')) {
      tx.insert(subtypes)
        .values({
          key: `${definition.name}.stage`,
          name: 'Stage Changed',
          internal: false,
          isDefault: true,
          sequence: 40,
          modelId: model.id,
          parentKey: 'tracking',
        })
        .run()
      forget(tx, SUBTYPES_CACHE_KEY)
    }
    input.registry.invalidate(tx)
  })
}
