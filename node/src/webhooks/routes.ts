import { type Clock, noBody, refusal, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import { and, asc, desc, eq, gte, lt, type SQL } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { decodeCursor, itemsOf, page, pageOf } from '../api/pagination.ts'
import { IdParams } from '../api/params.ts'
import { principalOf } from '../auth/plugin.ts'
import type { Db, Tx } from '../db/client.ts'
import { webhookAttempts, webhookEndpoints, webhookMessages } from '../db/schema.ts'
import type { WriteQueue } from '../db/write-queue.ts'
import { NodeError } from '../errors.ts'
import { AddressGuard, checkWebhookUrl } from './address-guard.ts'
import type { WebhookDispatcher } from './dispatcher.ts'
import { WebhookError } from './errors.ts'
import { WEBHOOK_EVENT_TYPES } from './events.ts'
import { presentAttempt, presentEndpoint, presentMessage } from './presenter.ts'
import {
  EndpointCreateSchema,
  EndpointUpdateSchema,
  EndpointViewSchema,
  MessageDetailSchema,
  MessageQuerySchema,
  MessageViewSchema,
  ReplaySchema,
} from './schema.ts'
import { newWebhookSecret } from './signing.ts'

const admin = { access: 'user', scope: 'admin', admin: true } as const
/** After a rotation, the old secret signs beside the new one this long, while receivers switch. */
export const ROTATION_OVERLAP_MS = 24 * 3_600_000
const notFound = refusal('No such endpoint or message (E_NOT_FOUND)')
const badUrl = refusal('The URL is refused: not http(s), or not a public address (E_WEBHOOK_URL)')

/**
 * Administration → Webhooks: the endpoints integrators receive the node's events at, their secrets,
 * and the log of every delivery, with replay.
 */
export async function outboundWebhookRoutes(
  app: FastifyInstance,
  opts: {
    db: Db
    writes: WriteQueue
    clock: Clock
    webhooks: WebhookDispatcher
    allowlist: readonly string[]
  },
) {
  const { db, writes, clock, webhooks } = opts
  const guard = new AddressGuard(opts.allowlist)
  const routes = app.withTypeProvider<ZodTypeProvider>()
  const checkedUrl = async (url: string) => {
    const checked = await checkWebhookUrl(url, guard)
    if (!checked.ok) throw new WebhookError('E_WEBHOOK_URL', checked.reason)
    return checked.url.href
  }

  routes.get(
    '/api/v1/webhooks/event-types',
    {
      config: admin,
      schema: {
        summary: 'The event types an endpoint can receive (administrators)',
        response: { 200: itemsOf(z.string()) },
      },
    },
    async () => ({ items: [...WEBHOOK_EVENT_TYPES] }),
  )

  routes.get(
    '/api/v1/webhooks/endpoints',
    {
      config: admin,
      schema: {
        summary: 'Webhook endpoints (administrators)',
        response: { 200: itemsOf(EndpointViewSchema) },
      },
    },
    async () => {
      const now = clock.now()
      const rows = db.select().from(webhookEndpoints).orderBy(asc(webhookEndpoints.id)).all()
      return { items: rows.map((row) => presentEndpoint(row, now)) }
    },
  )

  routes.post(
    '/api/v1/webhooks/endpoints',
    {
      config: admin,
      schema: {
        summary: 'Add a webhook endpoint (administrators): its secret is in the answer',
        body: EndpointCreateSchema,
        response: { 201: EndpointViewSchema, 422: badUrl },
      },
    },
    async (request, reply) => {
      const { userId } = principalOf(request)
      const url = await checkedUrl(request.body.url)
      const now = clock.now()
      const row = await writes.run((tx) =>
        tx
          .insert(webhookEndpoints)
          .values({
            ...request.body,
            url,
            secret: newWebhookSecret(),
            createdBy: userId,
            createdAt: now,
            updatedAt: now,
          })
          .returning()
          .get(),
      )
      return reply.status(201).send(presentEndpoint(row, now))
    },
  )

  routes.get(
    '/api/v1/webhooks/endpoints/:id',
    {
      config: admin,
      schema: {
        summary: 'One webhook endpoint (administrators)',
        params: IdParams,
        response: { 200: EndpointViewSchema, 404: notFound },
      },
    },
    async (request) => presentEndpoint(endpointOf(db, request.params.id), clock.now()),
  )

  routes.patch(
    '/api/v1/webhooks/endpoints/:id',
    {
      config: admin,
      schema: {
        summary: 'Change, pause or resume a webhook endpoint (administrators): a field left out is kept',
        params: IdParams,
        body: EndpointUpdateSchema,
        response: { 200: EndpointViewSchema, 404: notFound, 422: badUrl },
      },
    },
    async (request) => {
      const { enabled, url, ...rest } = request.body
      const checked = url === undefined ? undefined : await checkedUrl(url)
      const now = clock.now()
      const row = await writes.run((tx) => {
        const current = endpointOf(tx, request.params.id)
        const state =
          enabled === undefined || enabled === (current.disabledAt === null)
            ? {}
            : enabled
              ? { disabledAt: null, disabledReason: null, failingSince: null }
              : { disabledAt: now, disabledReason: 'paused by an administrator' }
        return tx
          .update(webhookEndpoints)
          .set({ ...rest, ...(checked ? { url: checked } : {}), ...state, updatedAt: now })
          .where(eq(webhookEndpoints.id, current.id))
          .returning()
          .get()
      })
      // Resumed: what waited goes now.
      if (enabled) webhooks.kick()
      return presentEndpoint(row as NonNullable<typeof row>, now)
    },
  )

  routes.delete(
    '/api/v1/webhooks/endpoints/:id',
    {
      config: admin,
      schema: {
        summary: 'Delete a webhook endpoint with its queue and log (administrators)',
        params: IdParams,
        response: { 204: noBody('Deleted'), 404: notFound },
      },
    },
    async (request, reply) => {
      await writes.run((tx) => {
        const { id } = endpointOf(tx, request.params.id)
        tx.delete(webhookAttempts).where(eq(webhookAttempts.endpointId, id)).run()
        tx.delete(webhookMessages).where(eq(webhookMessages.endpointId, id)).run()
        tx.delete(webhookEndpoints).where(eq(webhookEndpoints.id, id)).run()
      })
      return reply.status(204).send()
    },
  )

  routes.post(
    '/api/v1/webhooks/endpoints/:id/rotate-secret',
    {
      config: admin,
      schema: {
        summary: 'Give an endpoint a new secret; the old one keeps signing beside it for 24 hours',
        params: IdParams,
        response: { 200: EndpointViewSchema, 404: notFound },
      },
    },
    async (request) => {
      const now = clock.now()
      const row = await writes.run((tx) => {
        const current = endpointOf(tx, request.params.id)
        return tx
          .update(webhookEndpoints)
          .set({
            secret: newWebhookSecret(),
            previousSecret: current.secret,
            previousSecretUntil: now + ROTATION_OVERLAP_MS,
            updatedAt: now,
          })
          .where(eq(webhookEndpoints.id, current.id))
          .returning()
          .get()
      })
      return presentEndpoint(row as NonNullable<typeof row>, now)
    },
  )

  routes.get(
    '/api/v1/webhooks/endpoints/:id/messages',
    {
      config: admin,
      schema: {
        summary: "An endpoint's deliveries, newest first (administrators)",
        params: IdParams,
        querystring: MessageQuerySchema,
        response: { 200: pageOf(MessageViewSchema), 404: notFound },
      },
    },
    async (request) => {
      const { id } = endpointOf(db, request.params.id)
      const { limit, cursor, status } = request.query
      const before = decodeCursor(cursor)
      const conditions: SQL[] = [eq(webhookMessages.endpointId, id)]
      if (status) conditions.push(eq(webhookMessages.status, status))
      if (before !== undefined) conditions.push(lt(webhookMessages.id, before))
      const rows = db
        .select()
        .from(webhookMessages)
        .where(and(...conditions))
        .orderBy(desc(webhookMessages.id))
        .limit(limit + 1)
        .all()
      const { items, nextCursor } = page(rows, limit)
      return { items: items.map(presentMessage), nextCursor }
    },
  )

  routes.get(
    '/api/v1/webhooks/messages/:id',
    {
      config: admin,
      schema: {
        summary: 'One delivery with every attempt (administrators)',
        params: IdParams,
        response: { 200: MessageDetailSchema, 404: notFound },
      },
    },
    async (request) => {
      const message = messageOf(db, request.params.id)
      const tries = db
        .select()
        .from(webhookAttempts)
        .where(eq(webhookAttempts.messageId, message.id))
        .orderBy(asc(webhookAttempts.id))
        .all()
      return { ...presentMessage(message), tries: tries.map(presentAttempt) }
    },
  )

  routes.post(
    '/api/v1/webhooks/messages/:id/replay',
    {
      config: admin,
      schema: {
        summary: 'Send one message again, with its webhook-id, and a new round of retries',
        params: IdParams,
        response: { 200: MessageViewSchema, 404: notFound },
      },
    },
    async (request) => {
      const now = clock.now()
      const row = await writes.run((tx) => {
        const message = messageOf(tx, request.params.id)
        // One being sent now is already going.
        if (message.status === 'delivering') return message
        return tx
          .update(webhookMessages)
          .set({ status: 'pending', attempts: 0, nextAttemptAt: now })
          .where(eq(webhookMessages.id, message.id))
          .returning()
          .get()
      })
      webhooks.kick()
      return presentMessage(row as NonNullable<typeof row>)
    },
  )

  routes.post(
    '/api/v1/webhooks/endpoints/:id/replay',
    {
      config: admin,
      schema: {
        summary: 'Send again every failed message of an endpoint created since a given time',
        params: IdParams,
        body: ReplaySchema,
        response: { 200: z.object({ replayed: z.int() }), 404: notFound },
      },
    },
    async (request) => {
      const now = clock.now()
      const replayed = await writes.run((tx) => {
        const { id } = endpointOf(tx, request.params.id)
        return tx
          .update(webhookMessages)
          .set({ status: 'pending', attempts: 0, nextAttemptAt: now })
          .where(
            and(
              eq(webhookMessages.endpointId, id),
              eq(webhookMessages.status, 'failed'),
              gte(webhookMessages.createdAt, request.body.since),
            ),
          )
          .run().changes
      })
      webhooks.kick()
      return { replayed }
    },
  )
}

function endpointOf(tx: Tx, id: number) {
  const row = tx.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, id)).get()
  if (!row) throw new NodeError('E_NOT_FOUND', `no webhook endpoint ${id}`)
  return row
}

function messageOf(tx: Tx, id: number) {
  const row = tx.select().from(webhookMessages).where(eq(webhookMessages.id, id)).get()
  if (!row) throw new NodeError('E_NOT_FOUND', `no webhook message ${id}`)
  return row
}
