import type { Clock, ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance } from 'fastify'
import { itemsOf } from '../api/pagination.ts'
import type { Db } from '../db/client.ts'
import { NodeError } from '../errors.ts'
import { defineModel, ModelDefinitionSchema } from './define-model.ts'
import { ModelViewSchema, presentModel } from './presenter.ts'
import type { ModelRegistry } from './registry.ts'
import { ModelParams } from './schema.ts'

/** The models: built-in ones, and those integrators define (admins only). */
export async function modelRoutes(
  app: FastifyInstance,
  opts: { db: Db; clock: Clock; registry: ModelRegistry },
) {
  const routes = app.withTypeProvider<ZodTypeProvider>()

  routes.get(
    '/api/v1/models',
    {
      config: { access: 'user', scope: 'models:read' },
      schema: { summary: 'Models and their fields', response: { 200: itemsOf(ModelViewSchema) } },
    },
    async () => ({ items: opts.registry.all().map(presentModel) }),
  )

  routes.get(
    '/api/v1/models/:model',
    {
      config: { access: 'user', scope: 'models:read' },
      schema: { summary: 'One model', params: ModelParams, response: { 200: ModelViewSchema } },
    },
    async (request) => {
      const { model: name } = request.params
      const model = opts.registry.byName(name)
      if (!model) throw new NodeError('E_NOT_FOUND', `there is no model "${name}"`)
      return presentModel(model)
    },
  )

  routes.post(
    '/api/v1/models',
    {
      config: { access: 'user', scope: 'admin', admin: true },
      schema: {
        summary: 'Define a model (administrators): fields, tracking sequences, assignee, restricted fields',
        body: ModelDefinitionSchema,
        response: { 201: ModelViewSchema },
      },
    },
    async (request, reply) => {
      const definition = request.body
      defineModel({ db: opts.db, registry: opts.registry, definition, now: opts.clock.now() })
      const model = opts.registry.byName(definition.name)
      if (!model) throw new Error('the model just defined is missing')
      return reply.status(201).send(presentModel(model))
    },
  )
}
