import { and, count, desc, eq, isNull, lt, sql } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { decodeCursor, PageQuerySchema, page } from '../api/pagination.ts'
import { IdParams } from '../api/params.ts'
import { principalOf } from '../auth/plugin.ts'
import { presentMessage } from '../chatter/presenter.ts'
import { messageDetails } from '../chatter/repository.ts'
import type { Clock } from '../clock.ts'
import type { Db } from '../db/client.ts'
import { messages, models, notifications, records } from '../db/schema.ts'
import { NodeError, parseWith } from '../errors.ts'
import type { LiveHub } from '../live/hub.ts'
import type { ModelRegistry } from '../models/registry.ts'
import { loadRecord, readableAnyModelCondition } from '../records/access.ts'

export const InboxQuery = PageQuerySchema.extend({ unread: z.enum(['true', 'false']).optional() })
export const ReadAllBody = z.strictObject({ recordId: z.int().positive().optional() }).default({})

/** The inbox: notifications by inbox, unread state, mark read, and unread counters per record. */
export async function inboxRoutes(
  app: FastifyInstance,
  opts: { db: Db; clock: Clock; registry: ModelRegistry; live: LiveHub },
) {
  const { db } = opts
  // The literal 'inbox' (not a bound parameter) lets SQLite use the partial index notifications_inbox.
  const mine = (partnerId: number) =>
    and(eq(notifications.partnerId, partnerId), sql`${notifications.channel} = 'inbox'`)

  app.get('/api/v1/inbox', { config: { access: 'user', scope: 'chatter:read' } }, async (request) => {
    const principal = principalOf(request)
    const query = parseWith(InboxQuery, request.query, 'E_INVALID_PARAMS')
    const before = decodeCursor(query.cursor)
    return db.transaction((tx) => {
      const rows = tx
        .select({
          notification: notifications,
          record: { id: records.id, name: records.name },
          model: models.name,
          message: messages,
        })
        .from(notifications)
        .innerJoin(records, eq(records.id, notifications.recordId))
        .innerJoin(models, eq(models.id, records.modelId))
        .leftJoin(messages, eq(messages.id, notifications.messageId))
        .where(
          and(
            mine(principal.partnerId),
            // Someone who lost access to a record (unfollowed, unassigned) no longer reads it here.
            readableAnyModelCondition(principal),
            query.unread === 'true' ? isNull(notifications.readAt) : undefined,
            before ? lt(notifications.id, before) : undefined,
          ),
        )
        .orderBy(desc(notifications.id))
        .limit(query.limit + 1)
        .all()
      const result = page(
        rows.map((row) => ({ ...row, id: row.notification.id })),
        query.limit,
      )
      const details = messageDetails(
        tx,
        result.items.flatMap((row) => (row.message ? [row.message] : [])),
      )
      return {
        items: result.items.map((row) => ({
          id: row.notification.id,
          reason: row.notification.reason,
          read: row.notification.readAt !== null,
          createdAt: row.notification.createdAt,
          record: { id: row.record.id, name: row.record.name, model: row.model },
          message: row.message ? presentMessage(row.message, details) : null,
          activityId: row.notification.activityId,
        })),
        nextCursor: result.nextCursor,
      }
    })
  })

  app.get(
    '/api/v1/inbox/counters',
    { config: { access: 'user', scope: 'chatter:read' } },
    async (request) => {
      const principal = principalOf(request)
      const rows = db
        .select({ recordId: notifications.recordId, name: records.name, model: models.name, unread: count() })
        .from(notifications)
        .innerJoin(records, eq(records.id, notifications.recordId))
        .innerJoin(models, eq(models.id, records.modelId))
        .where(
          and(mine(principal.partnerId), readableAnyModelCondition(principal), isNull(notifications.readAt)),
        )
        .groupBy(notifications.recordId)
        .all()
      return { unread: rows.reduce((sum, row) => sum + row.unread, 0), records: rows }
    },
  )

  app.post(
    '/api/v1/inbox/:id/read',
    { config: { access: 'user', scope: 'chatter:read' } },
    async (request, reply) => {
      const principal = principalOf(request)
      const { id } = parseWith(IdParams, request.params, 'E_INVALID_PARAMS')
      const changed = db
        .update(notifications)
        .set({ readAt: opts.clock.now() })
        .where(and(eq(notifications.id, id), mine(principal.partnerId), isNull(notifications.readAt)))
        .run().changes
      if (
        changed === 0 &&
        !db
          .select({ id: notifications.id })
          .from(notifications)
          .where(and(eq(notifications.id, id), mine(principal.partnerId)))
          .get()
      )
        throw new NodeError('E_NOT_FOUND')
      opts.live.publish({ events: [{ scope: 'user', userId: principal.userId, type: 'inbox.changed' }] })
      return reply.status(204).send()
    },
  )

  // Mark all read, or all of one record (opening a record's chatter does this).
  app.post(
    '/api/v1/inbox/read-all',
    { config: { access: 'user', scope: 'chatter:read' } },
    async (request) => {
      const principal = principalOf(request)
      const body = parseWith(ReadAllBody, request.body ?? {})
      if (body.recordId !== undefined)
        loadRecord(db, { principal, registry: opts.registry, recordId: body.recordId })
      const marked = db
        .update(notifications)
        .set({ readAt: opts.clock.now() })
        .where(
          and(
            mine(principal.partnerId),
            isNull(notifications.readAt),
            body.recordId !== undefined ? eq(notifications.recordId, body.recordId) : undefined,
          ),
        )
        .run().changes
      opts.live.publish({ events: [{ scope: 'user', userId: principal.userId, type: 'inbox.changed' }] })
      return { marked }
    },
  )
}
