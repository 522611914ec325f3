import { eq } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { IdParams as RecordParams } from '../api/params.ts'
import { principalOf } from '../auth/plugin.ts'
import { allSubtypes, subtypesOfModel } from '../chatter/repository.ts'
import type { Clock } from '../clock.ts'
import type { Db, Tx } from '../db/client.ts'
import { partners } from '../db/schema.ts'
import type { WriteQueue } from '../db/write-queue.ts'
import { NodeError, parseWith } from '../errors.ts'
import type { LiveHub } from '../live/hub.ts'
import type { ModelRegistry } from '../models/registry.ts'
import { loadRecord } from '../records/access.ts'
import { findFollower, follow, followersWithPartners, unfollow } from './repository.ts'
import { SubscriptionSchema } from './subscription.ts'

const FollowerParams = z.object({
  id: z.coerce.number().int().positive(),
  partnerId: z.coerce.number().int().positive(),
})
export const FollowerChoice = z.strictObject({
  subscription: SubscriptionSchema.optional(),
  /** Subtype keys, for `custom`. */
  subtypes: z.array(z.string().max(64)).max(50).optional(),
})
/** GET /api/v1/subtypes?model=lead: the general subtypes and that model's own. */
export const SubtypesQuery = z.object({ model: z.string().max(64).optional() })
export const FollowBody = FollowerChoice.extend({ partnerId: z.int().positive() })
export const FollowerViewSchema = z.object({
  partnerId: z.int(),
  name: z.string(),
  email: z.string().nullable(),
  internal: z.boolean(),
  subscription: SubscriptionSchema,
  subtypes: z.array(z.string()),
})

/** Followers of a record, their subscription choice, and the customers suggested as recipients. */
export async function followerRoutes(
  app: FastifyInstance,
  opts: { db: Db; clock: Clock; registry: ModelRegistry; live: LiveHub; writes: WriteQueue },
) {
  const { db, registry } = opts

  /** Checks a subscription choice; external partners cannot pick internal subtypes. */
  function checkChoice(tx: Tx, modelId: number, partnerId: number, choice: z.infer<typeof FollowerChoice>) {
    const partner = tx.select().from(partners).where(eq(partners.id, partnerId)).get()
    if (!partner?.active) throw new NodeError('E_INVALID_BODY', `partnerId: no partner ${partnerId}`)
    const subscription = choice.subscription ?? (partner.internal ? 'all' : 'comments')
    const keys = choice.subtypes ?? []
    if (subscription === 'custom') {
      const known = subtypesOfModel(tx, modelId)
      for (const key of keys) {
        const subtype = known.find((row) => row.key === key)
        if (!subtype)
          throw new NodeError('E_INVALID_BODY', `subtypes: "${key}" is not a subtype of this record's model`)
        if (subtype.internal && !partner.internal)
          throw new NodeError(
            'E_INVALID_BODY',
            `subtypes: "${key}" is internal; an external contact cannot follow it`,
          )
      }
    } else if (keys.length)
      throw new NodeError('E_INVALID_BODY', 'subtypes: only for the "custom" subscription')
    return { subscription, subtypes: subscription === 'custom' ? keys : [] }
  }

  const list = (tx: Tx, recordId: number) =>
    followersWithPartners(tx, recordId).map((row) => ({
      partnerId: row.partnerId,
      name: row.name,
      email: row.email,
      internal: row.internal,
      subscription: row.subscription,
      subtypes: row.subtypes,
    }))

  app.get('/api/v1/subtypes', { config: { access: 'user', scope: 'chatter:read' } }, async (request) => {
    const query = parseWith(SubtypesQuery, request.query, 'E_INVALID_PARAMS')
    const model = query.model === undefined ? undefined : registry.byName(query.model)
    if (query.model !== undefined && !model)
      throw new NodeError('E_NOT_FOUND', `there is no model "${query.model}"`)
    const rows = model ? subtypesOfModel(db, model.id) : allSubtypes(db).filter((row) => row.modelId === null)
    return {
      items: rows.map((row) => ({
        key: row.key,
        name: row.name,
        internal: row.internal,
        default: row.isDefault,
      })),
    }
  })

  app.get(
    '/api/v1/records/:id/followers',
    { config: { access: 'user', scope: 'chatter:read' } },
    async (request) => {
      const principal = principalOf(request)
      const { id } = parseWith(RecordParams, request.params, 'E_INVALID_PARAMS')
      return db.transaction((tx) => {
        loadRecord(tx, { principal, registry, recordId: id })
        return { items: list(tx, id) }
      })
    },
  )

  app.post(
    '/api/v1/records/:id/followers',
    { config: { access: 'user', scope: 'chatter:write' } },
    async (request, reply) => {
      const principal = principalOf(request)
      const { id } = parseWith(RecordParams, request.params, 'E_INVALID_PARAMS')
      const body = parseWith(FollowBody, request.body)
      const items = await opts.writes.run((tx) => {
        const loaded = loadRecord(tx, { principal, registry, recordId: id })
        const choice = checkChoice(tx, loaded.model.id, body.partnerId, body)
        follow(tx, {
          recordId: id,
          partnerId: body.partnerId,
          ...choice,
          now: opts.clock.now(),
          existing: 'replace',
        })
        return list(tx, id)
      })
      opts.live.publish({ events: [{ scope: 'record', recordId: id, type: 'followers.changed' }] })
      return reply.status(201).send({ items })
    },
  )

  app.patch(
    '/api/v1/records/:id/followers/:partnerId',
    { config: { access: 'user', scope: 'chatter:write' } },
    async (request) => {
      const principal = principalOf(request)
      const params = parseWith(FollowerParams, request.params, 'E_INVALID_PARAMS')
      const body = parseWith(FollowerChoice, request.body)
      const items = await opts.writes.run((tx) => {
        const loaded = loadRecord(tx, { principal, registry, recordId: params.id })
        if (!findFollower(tx, params.id, params.partnerId)) throw new NodeError('E_NOT_FOUND')
        const choice = checkChoice(tx, loaded.model.id, params.partnerId, body)
        follow(tx, {
          recordId: params.id,
          partnerId: params.partnerId,
          ...choice,
          now: opts.clock.now(),
          existing: 'replace',
        })
        return list(tx, params.id)
      })
      opts.live.publish({ events: [{ scope: 'record', recordId: params.id, type: 'followers.changed' }] })
      return { items }
    },
  )

  app.delete(
    '/api/v1/records/:id/followers/:partnerId',
    { config: { access: 'user', scope: 'chatter:write' } },
    async (request, reply) => {
      const principal = principalOf(request)
      const params = parseWith(FollowerParams, request.params, 'E_INVALID_PARAMS')
      await opts.writes.run((tx) => {
        loadRecord(tx, { principal, registry, recordId: params.id })
        if (!unfollow(tx, params.id, params.partnerId)) throw new NodeError('E_NOT_FOUND')
      })
      opts.live.publish({ events: [{ scope: 'record', recordId: params.id, type: 'followers.changed' }] })
      return reply.status(204).send()
    },
  )

  // Customers are suggested as recipients of "Send message", never made followers on their own.
  app.get(
    '/api/v1/records/:id/suggested-recipients',
    { config: { access: 'user', scope: 'chatter:read' } },
    async (request) => {
      const principal = principalOf(request)
      const { id } = parseWith(RecordParams, request.params, 'E_INVALID_PARAMS')
      return db.transaction((tx) => {
        const { record, model } = loadRecord(tx, { principal, registry, recordId: id })
        const following = new Set(followersWithPartners(tx, id).map((row) => row.partnerId))
        const ids = model.fields
          .filter((field) => field.type === 'partner')
          .map((field) => record.values[field.name])
          .filter((value): value is number => typeof value === 'number' && !following.has(value))
        const rows = [...new Set(ids)].map((partnerId) =>
          tx.select().from(partners).where(eq(partners.id, partnerId)).get(),
        )
        return {
          items: rows
            .filter((row) => row?.active && !row.internal)
            .map((row) => ({ partnerId: row?.id, name: row?.name, email: row?.email ?? null })),
        }
      })
    },
  )
}
