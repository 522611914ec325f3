import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { Clock } from '../clock.ts'
import type { Db } from '../db/client.ts'
import { NodeError, parseWith } from '../errors.ts'
import { defineModel, ModelDefinitionSchema } from './define-model.ts'
import type { Model, ModelRegistry } from './registry.ts'

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

export function presentModel(model: Model): z.infer<typeof ModelViewSchema> {
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

const ModelParams = z.object({ model: z.string().max(64) })

/** The models: built-in ones, and those integrators define (admins only). */
export async function modelRoutes(
  app: FastifyInstance,
  opts: { db: Db; clock: Clock; registry: ModelRegistry },
) {
  app.get('/api/v1/models', { config: { access: 'user', scope: 'models:read' } }, async () => ({
    items: opts.registry.all().map(presentModel),
  }))

  app.get('/api/v1/models/:model', { config: { access: 'user', scope: 'models:read' } }, async (request) => {
    const { model: name } = parseWith(ModelParams, request.params, 'E_INVALID_PARAMS')
    const model = opts.registry.byName(name)
    if (!model) throw new NodeError('E_NOT_FOUND', `there is no model "${name}"`)
    return presentModel(model)
  })

  app.post(
    '/api/v1/models',
    { config: { access: 'user', scope: 'admin', admin: true } },
    async (request, reply) => {
      const definition = parseWith(ModelDefinitionSchema, request.body)
      defineModel({ db: opts.db, registry: opts.registry, definition, now: opts.clock.now() })
      const model = opts.registry.byName(definition.name)
      if (!model) throw new Error('the model just defined is missing')
      return reply.status(201).send(presentModel(model))
    },
  )
}
