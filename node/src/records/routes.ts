import { type Clock, noBody, refusal, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance } from 'fastify'
import { recordActivityStates } from '../activities/record-state.ts'
import { decodeCursor, page, pageOf } from '../api/pagination.ts'
import { IdParams as RecordParams } from '../api/params.ts'
import { principalOf } from '../auth/plugin.ts'
import { keepFailedRun } from '../automation/engine.ts'
import type { Db } from '../db/client.ts'
import type { WriteQueue } from '../db/write-queue.ts'
import { NodeError } from '../errors.ts'
import { newEffects } from '../live/events.ts'
import type { LiveHub } from '../live/hub.ts'
import type { ModelRegistry } from '../models/registry.ts'
import { failedEmailCounts } from '../notifications/email-repository.ts'
import { loadRecord, readableCondition } from '../policies/index.ts'
import type { RecordSettings } from '../settings.ts'
import { setArchived } from './archive-record.ts'
import { deleteRecord, removeOrphanContents } from './delete-record.ts'
import { decodeOffset, encodeOffset, listPlan } from './list-query.ts'
import { presentRecord, RecordViewSchema } from './presenter.ts'
import { listRecords } from './repository.ts'
import { ModelParamsSchema, RecordCreateSchema, RecordListQuerySchema, RecordUpdateSchema } from './schema.ts'
import { createRecord, updateRecord } from './write-record.ts'

/** Records of every model: list, read, create, update (optimistic), delete. */
export async function recordRoutes(
  app: FastifyInstance,
  opts: {
    db: Db
    clock: Clock
    config: RecordSettings
    registry: ModelRegistry
    live: LiveHub
    writes: WriteQueue
  },
) {
  const { db, registry } = opts
  const routes = app.withTypeProvider<ZodTypeProvider>()
  const site = {
    company: opts.config.company,
    publicUrl: opts.config.publicUrl,
    locale: opts.config.locale,
    currency: opts.config.currency,
  }
  const modelOf = (name: string) => {
    const model = registry.byName(name)
    if (!model) throw new NodeError('E_NOT_FOUND', `there is no model "${name}"`)
    return model
  }

  routes.get(
    '/api/v1/models/:model/records',
    {
      config: { access: 'user', scope: 'records:read' },
      schema: {
        summary: 'Records of a model you may see, newest first or sorted, searched and filtered',
        params: ModelParamsSchema,
        querystring: RecordListQuerySchema,
        response: {
          200: pageOf(RecordViewSchema),
          400: refusal('A bad parameter, such as a `sort` that is not a sortable field (E_INVALID_PARAMS)'),
        },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const model = modelOf(request.params.model)
      const query = request.query
      const now = opts.clock.now()
      const plan = listPlan(db, { model, query, userId: principal.userId, nowMs: now })
      const sorted = plan.orderBy !== undefined
      const offset = sorted ? decodeOffset(query.cursor) : 0
      const rows = listRecords(db, {
        modelId: model.id,
        before: sorted ? undefined : decodeCursor(query.cursor),
        offset,
        limit: query.limit + 1,
        where: plan.where,
        orderBy: plan.orderBy,
        readable: readableCondition(principal, model),
      })
      const result = page(rows, query.limit)
      const ids = result.items.map((row) => row.id)
      const states = recordActivityStates(db, ids, now)
      const failed = failedEmailCounts(db, ids)
      return {
        items: result.items.map((row) =>
          presentRecord(row, model, states.get(row.id), failed.get(row.id) ?? 0),
        ),
        nextCursor:
          sorted && result.nextCursor ? encodeOffset(offset + result.items.length) : result.nextCursor,
      }
    },
  )

  routes.post(
    '/api/v1/models/:model/records',
    {
      config: { access: 'user', scope: 'records:write' },
      schema: {
        summary: 'Create a record',
        params: ModelParamsSchema,
        body: RecordCreateSchema,
        response: { 201: RecordViewSchema },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request)
      const model = modelOf(request.params.model)
      const effects = newEffects()
      const values = request.body.values
      const now = opts.clock.now()
      const record = await opts.writes
        .run((tx) => createRecord(tx, { principal, model, registry, values, site, now, effects }))
        .catch((error) => keepFailedRun(opts.writes, error, now, (events) => opts.live.publish({ events })))
      opts.live.publish(effects)
      // A new record has sent no email yet.
      return reply.status(201).send(presentRecord(record, model, undefined, 0))
    },
  )

  routes.get(
    '/api/v1/records/:id',
    {
      config: { access: 'user', scope: 'records:read' },
      schema: {
        summary: 'One record, with its worst activity state',
        params: RecordParams,
        response: { 200: RecordViewSchema },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const { id } = request.params
      const { record, model } = loadRecord(db, { principal, registry, recordId: id })
      return presentRecord(
        record,
        model,
        recordActivityStates(db, [id], opts.clock.now()).get(id),
        failedEmailCounts(db, [id]).get(id) ?? 0,
      )
    },
  )

  routes.patch(
    '/api/v1/records/:id',
    {
      config: { access: 'user', scope: 'records:write' },
      schema: {
        summary: 'Change a record; send the version you read (409 if it changed since)',
        params: RecordParams,
        body: RecordUpdateSchema,
        response: {
          200: RecordViewSchema,
          409: refusal('The record changed since the version you read (E_VERSION_CONFLICT): read it again'),
        },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const { id } = request.params
      const body = request.body
      const effects = newEffects()
      const { record, model } = await opts.writes
        .run((tx) => {
          const loaded = loadRecord(tx, { principal, registry, recordId: id })
          const updated = updateRecord(tx, {
            principal,
            model: loaded.model,
            registry,
            record: loaded.record,
            version: body.version,
            values: body.values,
            site,
            now: opts.clock.now(),
            effects,
          })
          return { record: updated, model: loaded.model }
        })
        .catch((error) =>
          keepFailedRun(opts.writes, error, opts.clock.now(), (events) => opts.live.publish({ events })),
        )
      opts.live.publish(effects)
      return presentRecord(
        record,
        model,
        recordActivityStates(db, [record.id], opts.clock.now()).get(record.id),
        failedEmailCounts(db, [record.id]).get(record.id) ?? 0,
      )
    },
  )

  for (const [verb, archived] of [
    ['archive', true],
    ['unarchive', false],
  ] as const)
    routes.post(
      `/api/v1/records/:id/${verb}`,
      {
        config: { access: 'user', scope: 'records:write' },
        schema: {
          summary: archived
            ? "Archive a record: out of its model's list and of time-based rules, kept with its chatter"
            : 'Restore an archived record',
          params: RecordParams,
          response: {
            200: RecordViewSchema,
            422: refusal('An automation rule on archiving failed (E_AUTOMATION_FAILED)'),
          },
        },
      },
      async (request) => {
        const principal = principalOf(request)
        const effects = newEffects()
        const now = opts.clock.now()
        const { record, model } = await opts.writes
          .run((tx) => {
            const loaded = loadRecord(tx, { principal, registry, recordId: request.params.id })
            const record = setArchived(tx, { ...loaded, principal, registry, archived, site, now, effects })
            return { record, model: loaded.model }
          })
          .catch((error) => keepFailedRun(opts.writes, error, now, (events) => opts.live.publish({ events })))
        opts.live.publish(effects)
        return presentRecord(
          record,
          model,
          recordActivityStates(db, [record.id], opts.clock.now()).get(record.id),
          failedEmailCounts(db, [record.id]).get(record.id) ?? 0,
        )
      },
    )

  routes.delete(
    '/api/v1/records/:id',
    {
      config: { access: 'user', scope: 'records:write' },
      schema: {
        summary: 'Delete a record with its chatter and files',
        params: RecordParams,
        response: { 204: noBody('Deleted') },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request)
      const { id } = request.params
      const contents = await opts.writes.run((tx) => {
        const { record, model } = loadRecord(tx, { principal, registry, recordId: id })
        return deleteRecord(tx, { record, modelName: model.name, now: opts.clock.now() })
      })
      // After the commit: a rolled-back delete must not have lost its files.
      removeOrphanContents({ db, attachmentDir: opts.config.attachmentDir, contents })
      opts.live.publish({ events: [{ scope: 'record', recordId: id, type: 'record.updated' }] })
      opts.live.forgetRecord(id)
      return reply.status(204).send()
    },
  )
}
