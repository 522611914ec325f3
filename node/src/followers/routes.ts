import { type Clock, noBody, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance } from 'fastify'
import { itemsOf } from '../api/pagination.ts'
import { IdParams as RecordParams } from '../api/params.ts'
import { principalOf } from '../auth/plugin.ts'
import { allSubtypes, subtypesOfModel } from '../chatter/repository.ts'
import type { Db, Tx } from '../db/client.ts'
import type { WriteQueue } from '../db/write-queue.ts'
import { NodeError } from '../errors.ts'
import { newEffects } from '../live/events.ts'
import type { LiveHub } from '../live/hub.ts'
import type { ModelRegistry } from '../models/registry.ts'
import { loadRecord } from '../policies/index.ts'
import type { SiteSettings } from '../settings.ts'
import { checkChoice } from './check-choice.ts'
import { inviteFollower } from './invite-follower.ts'
import {
  FollowerListSchema,
  presentFollower,
  presentSubtype,
  presentSuggestedRecipient,
  SubtypeViewSchema,
  SuggestedRecipientSchema,
} from './presenter.ts'
import { findFollower, follow, followersWithPartners, unfollow } from './repository.ts'
import {
  FollowBodySchema,
  FollowerChoiceSchema,
  FollowerParamsSchema,
  SubtypesQuerySchema,
} from './schema.ts'
import { suggestedRecipients } from './suggest-recipients.ts'

/** Followers of a record, their subscription choice, and the customers suggested as recipients. */
export async function followerRoutes(
  app: FastifyInstance,
  opts: {
    db: Db
    clock: Clock
    config: SiteSettings
    registry: ModelRegistry
    live: LiveHub
    writes: WriteQueue
  },
) {
  const { db, registry } = opts
  const site = { company: opts.config.company, publicUrl: opts.config.publicUrl }
  const routes = app.withTypeProvider<ZodTypeProvider>()
  const list = (tx: Tx, recordId: number) => followersWithPartners(tx, recordId).map(presentFollower)
  const followersChanged = (recordId: number) =>
    opts.live.publish({ events: [{ scope: 'record', recordId, type: 'followers.changed' }] })

  routes.get(
    '/api/v1/subtypes',
    {
      config: { access: 'user', scope: 'chatter:read' },
      schema: {
        summary: 'Message subtypes, general or of one model (internal ones never reach external contacts)',
        querystring: SubtypesQuerySchema,
        response: { 200: itemsOf(SubtypeViewSchema) },
      },
    },
    async (request) => {
      const name = request.query.model
      const model = name === undefined ? undefined : registry.byName(name)
      if (name !== undefined && !model) throw new NodeError('E_NOT_FOUND', `there is no model "${name}"`)
      const rows = model
        ? subtypesOfModel(db, model.id)
        : allSubtypes(db).filter((row) => row.modelId === null)
      return { items: rows.map(presentSubtype) }
    },
  )

  routes.get(
    '/api/v1/records/:id/followers',
    {
      config: { access: 'user', scope: 'chatter:read' },
      schema: {
        summary: 'Followers and their subscription',
        params: RecordParams,
        response: { 200: FollowerListSchema },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const { id } = request.params
      return db.transaction((tx) => {
        loadRecord(tx, { principal, registry, recordId: id })
        return { items: list(tx, id) }
      })
    },
  )

  routes.post(
    '/api/v1/records/:id/followers',
    {
      config: { access: 'user', scope: 'chatter:write' },
      schema: {
        summary: 'Add a follower, optionally with a message they receive',
        params: RecordParams,
        body: FollowBodySchema,
        response: { 201: FollowerListSchema },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request)
      const { id } = request.params
      const { message, ...body } = request.body
      const effects = newEffects()
      const items = await opts.writes.run((tx) => {
        const loaded = loadRecord(tx, { principal, registry, recordId: id })
        const choice = checkChoice(tx, { modelId: loaded.model.id, partnerId: body.partnerId, choice: body })
        const now = opts.clock.now()
        follow(tx, { recordId: id, partnerId: body.partnerId, ...choice, now, existing: 'replace' })
        if (message)
          inviteFollower(tx, {
            principal,
            ...loaded,
            partnerId: body.partnerId,
            text: message,
            site,
            now,
            effects,
          })
        return list(tx, id)
      })
      opts.live.publish(effects)
      followersChanged(id)
      return reply.status(201).send({ items })
    },
  )

  routes.patch(
    '/api/v1/records/:id/followers/:partnerId',
    {
      config: { access: 'user', scope: 'chatter:write' },
      schema: {
        summary: "Change a follower's subscription",
        params: FollowerParamsSchema,
        body: FollowerChoiceSchema,
        response: { 200: FollowerListSchema },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const { id, partnerId } = request.params
      const items = await opts.writes.run((tx) => {
        const loaded = loadRecord(tx, { principal, registry, recordId: id })
        if (!findFollower(tx, id, partnerId)) throw new NodeError('E_NOT_FOUND')
        const choice = checkChoice(tx, { modelId: loaded.model.id, partnerId, choice: request.body })
        follow(tx, { recordId: id, partnerId, ...choice, now: opts.clock.now(), existing: 'replace' })
        return list(tx, id)
      })
      followersChanged(id)
      return { items }
    },
  )

  routes.delete(
    '/api/v1/records/:id/followers/:partnerId',
    {
      config: { access: 'user', scope: 'chatter:write' },
      schema: {
        summary: 'Remove a follower',
        params: FollowerParamsSchema,
        response: { 204: noBody('Removed') },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request)
      const { id, partnerId } = request.params
      await opts.writes.run((tx) => {
        loadRecord(tx, { principal, registry, recordId: id })
        if (!unfollow(tx, id, partnerId)) throw new NodeError('E_NOT_FOUND')
      })
      followersChanged(id)
      return reply.status(204).send()
    },
  )

  routes.get(
    '/api/v1/records/:id/suggested-recipients',
    {
      config: { access: 'user', scope: 'chatter:read' },
      schema: {
        summary: 'Customers of the record who do not follow it',
        params: RecordParams,
        response: { 200: itemsOf(SuggestedRecipientSchema) },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const { id } = request.params
      return db.transaction((tx) => {
        const loaded = loadRecord(tx, { principal, registry, recordId: id })
        return { items: suggestedRecipients(tx, loaded).map(presentSuggestedRecipient) }
      })
    },
  )
}
