import { type Clock, noBody, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance } from 'fastify'
import { decodeCursor, itemsOf, page, pageOf } from '../api/pagination.ts'
import { IdParams as RecordParams } from '../api/params.ts'
import { principalOf } from '../auth/plugin.ts'
import type { Principal } from '../auth/principal.ts'
import type { Db, Tx } from '../db/client.ts'
import type { WriteQueue } from '../db/write-queue.ts'
import { NodeError } from '../errors.ts'
import { newEffects } from '../live/events.ts'
import type { LiveHub } from '../live/hub.ts'
import type { ModelRegistry } from '../models/registry.ts'
import { emailRecipientsByMessage } from '../notifications/email-repository.ts'
import { avatarVersions } from '../people/avatar-repository.ts'
import { loadRecord, seesDeletedHistory } from '../policies/index.ts'
import type { SiteSettings } from '../settings.ts'
import { deleteMessage, editMessage } from './edit-message.ts'
import { postMessage } from './post-message.ts'
import {
  MessageVersionViewSchema,
  type MessageView,
  MessageViewSchema,
  presentMessage,
  presentVersion,
} from './presenter.ts'
import {
  allSubtypes,
  findMessage,
  listMessages,
  listVersions,
  type MessageRow,
  messageDetails,
} from './repository.ts'
import { ChatterQuery, EditBody, PostBody } from './schema.ts'

/** A record's chatter: read it, post on it, edit and delete comments. */
export async function chatterRoutes(
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

  /** A message the caller may see: its record must be readable. */
  function loadMessage(tx: Tx, principal: Principal, id: number) {
    const message = findMessage(tx, id)
    if (!message) throw new NodeError('E_NOT_FOUND')
    loadRecord(tx, { principal, registry, recordId: message.recordId })
    return message
  }

  // Each message with its email recipients and how sending to them went.
  function present(tx: Tx, rows: MessageRow[]): MessageView[] {
    const emails = emailRecipientsByMessage(
      tx,
      rows.map((row) => row.id),
    )
    const details = { ...messageDetails(tx, rows), emails }
    return rows.map((row) => presentMessage(row, details))
  }

  const presentOne = (tx: Tx, row: MessageRow): MessageView => present(tx, [row])[0] as MessageView

  routes.get(
    '/api/v1/records/:id/messages',
    {
      config: { access: 'user', scope: 'chatter:read' },
      schema: {
        summary: "A record's chatter, newest first, optionally by kind",
        params: RecordParams,
        querystring: ChatterQuery,
        response: { 200: pageOf(MessageViewSchema) },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const { id } = request.params
      const query = request.query
      return db.transaction((tx) => {
        loadRecord(tx, { principal, registry, recordId: id })
        const rows = listMessages(tx, {
          recordId: id,
          kinds: query.kind,
          before: decodeCursor(query.cursor),
          limit: query.limit + 1,
        })
        const result = page(rows, query.limit)
        return { items: present(tx, result.items), nextCursor: result.nextCursor }
      })
    },
  )

  routes.post(
    '/api/v1/records/:id/messages',
    {
      config: { access: 'user', scope: 'chatter:write' },
      schema: {
        summary: 'Send a message or log a note',
        params: RecordParams,
        body: PostBody,
        response: { 201: MessageViewSchema },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request)
      const { id } = request.params
      const body = request.body
      const effects = newEffects()
      const view = await opts.writes.run((tx) => {
        const { record, model } = loadRecord(tx, { principal, registry, recordId: id })
        const posted = postMessage(tx, {
          principal,
          record,
          model,
          ...body,
          site,
          now: opts.clock.now(),
          effects,
        })
        // Presented from what the post already knows: no read-back of what was just written.
        const files = body.attachmentIds.length ? messageDetails(tx, [posted.message]).files : new Map()
        return presentMessage(posted.message, {
          authors: new Map([[principal.partnerId, principal.name]]),
          tracking: new Map(),
          mentions: new Map([[posted.message.id, posted.mentions]]),
          files,
          subtypes: allSubtypes(tx),
          emails: emailRecipientsByMessage(tx, [posted.message.id]),
          // The author's picture, as every later read shows it.
          avatars: avatarVersions(tx, [principal.partnerId]),
        })
      })
      opts.live.publish(effects)
      return reply.status(201).send(view)
    },
  )

  routes.get(
    '/api/v1/messages/:id',
    {
      config: { access: 'user', scope: 'chatter:read' },
      schema: { summary: 'One message', params: RecordParams, response: { 200: MessageViewSchema } },
    },
    async (request) => {
      const principal = principalOf(request)
      const { id } = request.params
      return db.transaction((tx) => presentOne(tx, loadMessage(tx, principal, id)))
    },
  )

  routes.patch(
    '/api/v1/messages/:id',
    {
      config: { access: 'user', scope: 'chatter:write' },
      schema: {
        summary: 'Edit a comment (author or administrator); the old body is kept',
        params: RecordParams,
        body: EditBody,
        response: { 200: MessageViewSchema },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const { id } = request.params
      const body = request.body
      const effects = newEffects()
      const view = await opts.writes.run((tx) => {
        const message = loadMessage(tx, principal, id)
        editMessage(tx, { principal, message, ...body, now: opts.clock.now(), effects })
        return presentOne(tx, loadMessage(tx, principal, id))
      })
      opts.live.publish(effects)
      return view
    },
  )

  routes.delete(
    '/api/v1/messages/:id',
    {
      config: { access: 'user', scope: 'chatter:write' },
      schema: {
        summary: 'Delete a comment: it stays as a tombstone',
        params: RecordParams,
        response: { 204: noBody('Deleted') },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request)
      const { id } = request.params
      const effects = newEffects()
      await opts.writes.run((tx) =>
        deleteMessage(tx, {
          principal,
          message: loadMessage(tx, principal, id),
          now: opts.clock.now(),
          effects,
        }),
      )
      opts.live.publish(effects)
      return reply.status(204).send()
    },
  )

  routes.get(
    '/api/v1/messages/:id/versions',
    {
      config: { access: 'user', scope: 'chatter:read' },
      schema: {
        summary: "A message's earlier bodies",
        params: RecordParams,
        response: { 200: itemsOf(MessageVersionViewSchema) },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const { id } = request.params
      return db.transaction((tx) => {
        const message = loadMessage(tx, principal, id)
        if (message.deletedAt !== null && !seesDeletedHistory(principal)) return { items: [] }
        return { items: listVersions(tx, message.id).map(presentVersion) }
      })
    },
  )
}
