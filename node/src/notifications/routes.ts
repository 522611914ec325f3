import { type Clock, noBody, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance } from 'fastify'
import { decodeCursor, page, pageOf } from '../api/pagination.ts'
import { IdParams } from '../api/params.ts'
import { principalOf } from '../auth/plugin.ts'
import { messageDetails } from '../chatter/repository.ts'
import type { Db } from '../db/client.ts'
import { NodeError } from '../errors.ts'
import type { LiveHub } from '../live/hub.ts'
import type { ModelRegistry } from '../models/registry.ts'
import { loadRecord, ownInboxCondition, visibleInboxCondition } from '../policies/index.ts'
import {
  InboxCountersSchema,
  InboxItemSchema,
  MarkedSchema,
  presentCounters,
  presentInboxItem,
} from './presenter.ts'
import { listInbox, markAllRead, markRead, notificationExists, unreadPerRecord } from './repository.ts'
import { InboxQuerySchema, ReadAllBodySchema } from './schema.ts'

/** The inbox: notifications by inbox, unread state, mark read, and unread counters per record. */
export async function inboxRoutes(
  app: FastifyInstance,
  opts: { db: Db; clock: Clock; registry: ModelRegistry; live: LiveHub },
) {
  const { db } = opts
  const routes = app.withTypeProvider<ZodTypeProvider>()
  const inboxChanged = (userId: number) =>
    opts.live.publish({ events: [{ scope: 'user', userId, type: 'inbox.changed' }] })

  routes.get(
    '/api/v1/inbox',
    {
      config: { access: 'user', scope: 'chatter:read' },
      schema: {
        summary: 'Your inbox notifications',
        querystring: InboxQuerySchema,
        response: { 200: pageOf(InboxItemSchema) },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const query = request.query
      const before = decodeCursor(query.cursor)
      return db.transaction((tx) => {
        const rows = listInbox(tx, {
          visible: visibleInboxCondition(principal),
          unreadOnly: query.unread === 'true',
          before,
          limit: query.limit + 1,
        })
        const result = page(
          rows.map((row) => ({ ...row, id: row.notification.id })),
          query.limit,
        )
        const details = messageDetails(
          tx,
          result.items.flatMap((row) => (row.message ? [row.message] : [])),
        )
        return {
          items: result.items.map((row) => presentInboxItem(row, details)),
          nextCursor: result.nextCursor,
        }
      })
    },
  )

  routes.get(
    '/api/v1/inbox/counters',
    {
      config: { access: 'user', scope: 'chatter:read' },
      schema: { summary: 'Unread counts, in all and per record', response: { 200: InboxCountersSchema } },
    },
    async (request) => presentCounters(unreadPerRecord(db, visibleInboxCondition(principalOf(request)))),
  )

  routes.post(
    '/api/v1/inbox/:id/read',
    {
      config: { access: 'user', scope: 'chatter:read' },
      schema: {
        summary: 'Mark one notification read',
        params: IdParams,
        response: { 204: noBody('Read') },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request)
      const { id } = request.params
      const mine = ownInboxCondition(principal)
      const changed = markRead(db, { id, mine, now: opts.clock.now() })
      if (!changed && !notificationExists(db, { id, mine })) throw new NodeError('E_NOT_FOUND')
      inboxChanged(principal.userId)
      return reply.status(204).send()
    },
  )

  // Mark all read, or all of one record (opening a record's chatter does this).
  routes.post(
    '/api/v1/inbox/read-all',
    {
      config: { access: 'user', scope: 'chatter:read' },
      schema: {
        summary: 'Mark all read, or all of one record',
        body: ReadAllBodySchema,
        response: { 200: MarkedSchema },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const { recordId } = request.body
      if (recordId !== undefined) loadRecord(db, { principal, registry: opts.registry, recordId })
      const marked = markAllRead(db, { mine: ownInboxCondition(principal), recordId, now: opts.clock.now() })
      inboxChanged(principal.userId)
      return { marked }
    },
  )
}
