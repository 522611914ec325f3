import { and, desc, eq, lt } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { recordActivityStates } from '../activities/record-state.ts'
import { decodeCursor, PageQuerySchema, page } from '../api/pagination.ts'
import { IdParams as RecordParams } from '../api/params.ts'
import { countContentReferences } from '../attachments/repository.ts'
import { removeContent } from '../attachments/storage.ts'
import { principalOf } from '../auth/plugin.ts'
import type { Clock } from '../clock.ts'
import type { Config } from '../config.ts'
import type { Db } from '../db/client.ts'
import { attachments, notifications, outgoingMail, records } from '../db/schema.ts'
import type { WriteQueue } from '../db/write-queue.ts'
import { NodeError, parseWith } from '../errors.ts'
import { newEffects } from '../live/events.ts'
import type { LiveHub } from '../live/hub.ts'
import type { ModelRegistry } from '../models/registry.ts'
import { loadRecord, readableCondition } from './access.ts'
import { presentRecord } from './presenter.ts'
import { createRecord, updateRecord } from './write-record.ts'

const ModelParams = z.object({ model: z.string().max(64) })
const CreateBody = z.strictObject({ values: z.record(z.string(), z.unknown()) })
const UpdateBody = z.strictObject({
  /** The version you read; the write is refused if the record changed since. */
  version: z.int().positive(),
  values: z.record(z.string(), z.unknown()),
})

export const RecordBodies = { CreateBody, UpdateBody }

/** Records of every model: list, read, create, update (optimistic), delete. */
export async function recordRoutes(
  app: FastifyInstance,
  opts: { db: Db; clock: Clock; config: Config; registry: ModelRegistry; live: LiveHub; writes: WriteQueue },
) {
  const { db, registry } = opts
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

  app.get(
    '/api/v1/models/:model/records',
    { config: { access: 'user', scope: 'records:read' } },
    async (request) => {
      const principal = principalOf(request)
      const model = modelOf(parseWith(ModelParams, request.params, 'E_INVALID_PARAMS').model)
      const query = parseWith(PageQuerySchema, request.query, 'E_INVALID_PARAMS')
      const before = decodeCursor(query.cursor)
      const rows = db
        .select()
        .from(records)
        .where(
          and(
            eq(records.modelId, model.id),
            before ? lt(records.id, before) : undefined,
            readableCondition(principal, model),
          ),
        )
        .orderBy(desc(records.id))
        .limit(query.limit + 1)
        .all()
      const result = page(rows, query.limit)
      const states = recordActivityStates(
        db,
        result.items.map((row) => row.id),
        opts.clock.now(),
      )
      return {
        items: result.items.map((row) => presentRecord(row, model, states.get(row.id))),
        nextCursor: result.nextCursor,
      }
    },
  )

  app.post(
    '/api/v1/models/:model/records',
    { config: { access: 'user', scope: 'records:write' } },
    async (request, reply) => {
      const principal = principalOf(request)
      const model = modelOf(parseWith(ModelParams, request.params, 'E_INVALID_PARAMS').model)
      const body = parseWith(CreateBody, request.body)
      const effects = newEffects()
      const record = await opts.writes.run((tx) =>
        createRecord(tx, { principal, model, values: body.values, site, now: opts.clock.now(), effects }),
      )
      opts.live.publish(effects)
      return reply.status(201).send(presentRecord(record, model))
    },
  )

  app.get('/api/v1/records/:id', { config: { access: 'user', scope: 'records:read' } }, async (request) => {
    const principal = principalOf(request)
    const { id } = parseWith(RecordParams, request.params, 'E_INVALID_PARAMS')
    const { record, model } = loadRecord(db, { principal, registry, recordId: id })
    return presentRecord(record, model, recordActivityStates(db, [id], opts.clock.now()).get(id))
  })

  app.patch(
    '/api/v1/records/:id',
    { config: { access: 'user', scope: 'records:write' } },
    async (request) => {
      const principal = principalOf(request)
      const { id } = parseWith(RecordParams, request.params, 'E_INVALID_PARAMS')
      const body = parseWith(UpdateBody, request.body)
      const effects = newEffects()
      const { record, model } = await opts.writes.run((tx) => {
        const loaded = loadRecord(tx, { principal, registry, recordId: id })
        const updated = updateRecord(tx, {
          principal,
          model: loaded.model,
          record: loaded.record,
          version: body.version,
          values: body.values,
          site,
          now: opts.clock.now(),
          effects,
        })
        return { record: updated, model: loaded.model }
      })
      opts.live.publish(effects)
      return presentRecord(
        record,
        model,
        recordActivityStates(db, [record.id], opts.clock.now()).get(record.id),
      )
    },
  )

  app.delete(
    '/api/v1/records/:id',
    { config: { access: 'user', scope: 'records:write' } },
    async (request, reply) => {
      const principal = principalOf(request)
      const { id } = parseWith(RecordParams, request.params, 'E_INVALID_PARAMS')
      const contents = await opts.writes.run((tx) => {
        loadRecord(tx, { principal, registry, recordId: id })
        const files = tx
          .selectDistinct({ sha256: attachments.sha256 })
          .from(attachments)
          .where(eq(attachments.recordId, id))
          .all()
        // Notifications and emails carry no foreign key (db/schema.ts): they go with their record here,
        // so no email about a deleted record is sent later.
        tx.delete(notifications).where(eq(notifications.recordId, id)).run()
        tx.delete(outgoingMail).where(eq(outgoingMail.recordId, id)).run()
        tx.delete(records).where(eq(records.id, id)).run()
        return files.map((file) => file.sha256)
      })
      // The record's files go with it, unless another upload has the same content. Checked and removed
      // in one synchronous step, so an upload of the same bytes cannot slip in between.
      for (const sha256 of contents)
        if (countContentReferences(db, sha256) === 0) removeContent(opts.config.attachmentDir, sha256)
      opts.live.publish({ events: [{ scope: 'record', recordId: id, type: 'record.updated' }] })
      opts.live.forgetRecord(id)
      return reply.status(204).send()
    },
  )
}
