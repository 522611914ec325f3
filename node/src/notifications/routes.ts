import { type Clock, noBody, refusal, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance } from 'fastify'
import { decodeCursor, page, pageOf } from '../api/pagination.ts'
import { IdParams } from '../api/params.ts'
import { principalOf } from '../auth/plugin.ts'
import type { Principal } from '../auth/principal.ts'
import { messageDetails } from '../chatter/repository.ts'
import type { Db, Tx } from '../db/client.ts'
import type { WriteQueue } from '../db/write-queue.ts'
import { NodeError } from '../errors.ts'
import { newEffects } from '../live/events.ts'
import type { LiveHub } from '../live/hub.ts'
import type { ModelRegistry } from '../models/registry.ts'
import { loadRecord, ownInboxCondition, visibleInboxCondition } from '../policies/index.ts'
import { cancelEmail } from './cancel-email.ts'
import { EmailRecipientViewSchema, presentEmailRecipient, RecordEmailsSchema } from './email-presenter.ts'
import { failedEmailCounts, findEmailRecipient, listEmailRecipients } from './email-repository.ts'
import { inboxActivities } from './inbox-activities.ts'
import {
  InboxCountersSchema,
  InboxItemSchema,
  MarkedSchema,
  presentCounters,
  presentInboxItem,
} from './presenter.ts'
import { listInbox, markAllRead, markRead, notificationExists, unreadPerRecord } from './repository.ts'
import { retryEmail } from './retry-email.ts'
import { EmailsQuerySchema, InboxQuerySchema, ReadAllBodySchema } from './schema.ts'

/** At most this many email recipients in one answer: a page of the chatter is at most 200 messages. */
const EMAILS_LIMIT = 1000

/**
 * The inbox (notifications by inbox, unread state, mark read, unread counters per record), and the
 * email recipients of a record's messages with their sending state, retried or canceled one by one.
 */
export async function inboxRoutes(
  app: FastifyInstance,
  opts: {
    db: Db
    clock: Clock
    registry: ModelRegistry
    live: LiveHub
    writes: WriteQueue
  },
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
        const activities = inboxActivities(
          tx,
          result.items.flatMap((row) => (row.notification.activityId ? [row.notification.activityId] : [])),
        )
        return {
          items: result.items.map((row) => presentInboxItem(row, details, activities)),
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

  /** An email recipient the caller may act on: its record must be readable; anything else is 404. */
  function loadEmail(tx: Tx, principal: Principal, id: number) {
    const email = findEmailRecipient(tx, id)
    // A digest is on no record: it is its recipient's, and not acted on through a record's messages.
    if (!email || email.notification.recordId === null) throw new NodeError('E_NOT_FOUND')
    loadRecord(tx, { principal, registry: opts.registry, recordId: email.notification.recordId })
    return email
  }

  routes.get(
    '/api/v1/records/:id/emails',
    {
      config: { access: 'user', scope: 'chatter:read' },
      schema: {
        summary: "Who a record's messages were emailed to, and how sending went",
        description:
          'Newest first; with `messages`, only the recipients of those messages (a page of the chatter). `failed` counts every failed or bounced email of the record.',
        params: IdParams,
        querystring: EmailsQuerySchema,
        response: { 200: RecordEmailsSchema },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const { id } = request.params
      const { messages } = request.query
      return db.transaction((tx) => {
        loadRecord(tx, { principal, registry: opts.registry, recordId: id })
        const rows = listEmailRecipients(tx, {
          recordId: id,
          ...(messages !== undefined ? { messageIds: messages } : {}),
          limit: EMAILS_LIMIT,
        })
        return {
          failed: failedEmailCounts(tx, [id]).get(id) ?? 0,
          items: rows.map(presentEmailRecipient),
        }
      })
    },
  )

  routes.post(
    '/api/v1/notifications/:id/retry',
    {
      config: { access: 'user', scope: 'chatter:write' },
      schema: {
        summary: 'Send an email to one recipient again (failed, bounced, canceled or still queued), now',
        params: IdParams,
        response: {
          200: EmailRecipientViewSchema,
          409: refusal(
            'Already sent (E_EMAIL_ALREADY_SENT), or the contact has no address (E_EMAIL_NO_ADDRESS)',
          ),
        },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const { id } = request.params
      const effects = newEffects()
      const view = await opts.writes.run((tx) =>
        presentEmailRecipient(
          retryEmail(tx, { email: loadEmail(tx, principal, id), now: opts.clock.now(), effects }),
        ),
      )
      // The email.status event is also what wakes the mail sender for it (mail/after-commit.ts).
      opts.live.publish(effects)
      return view
    },
  )

  routes.post(
    '/api/v1/notifications/:id/cancel',
    {
      config: { access: 'user', scope: 'chatter:write' },
      schema: {
        summary: 'Stop an email to one recipient that is queued or failed',
        params: IdParams,
        response: {
          200: EmailRecipientViewSchema,
          409: refusal('Already sent, bounced or canceled (E_EMAIL_NOT_CANCELABLE)'),
        },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const { id } = request.params
      const effects = newEffects()
      const view = await opts.writes.run((tx) =>
        presentEmailRecipient(cancelEmail(tx, { email: loadEmail(tx, principal, id), effects })),
      )
      opts.live.publish(effects)
      return view
    },
  )
}
