import type { Clock, ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance } from 'fastify'
import { decodeCursor, itemsOf, PageQuerySchema, page, pageOf } from '../../api/pagination.ts'
import { IdParams } from '../../api/params.ts'
import { principalOf } from '../../auth/plugin.ts'
import type { Principal } from '../../auth/principal.ts'
import type { Db } from '../../db/client.ts'
import type { WriteQueue } from '../../db/write-queue.ts'
import { NodeError } from '../../errors.ts'
import type { ModelRegistry } from '../../models/registry.ts'
import { canRead, loadRecord, readableChannel } from '../../policies/index.ts'
import { findRecord } from '../../records/repository.ts'
import { filesOf } from '../delivery/payload.ts'
import type { MessageRow } from '../delivery/status.ts'
import type { Ochat } from '../runtime.ts'
import { fileThreadOnRecord, openThread, retryMessage, sendMessage } from './commands.ts'
import {
  ChannelViewSchema,
  type OchatMessageView,
  OchatMessageViewSchema,
  presentChannel,
  presentMessages,
  ThreadOpenedViewSchema,
} from './presenter.ts'
import { channelMessages, channelRows, emailChannelIds, recordThread } from './repository.ts'
import { LinkBody, RecordSendBody, SendBody } from './schema.ts'

/**
 * Channels (one per accepted connection) and their messages: the list with unread counts, a thread,
 * sending with live status, opening a thread (read, with Read receipts), and retrying a failed send.
 * Record-bound threads live on the record: `/api/v1/records/:id/ochat`.
 */
export async function channelRoutes(
  app: FastifyInstance,
  opts: { db: Db; ochat: Ochat; writes: WriteQueue; clock: Clock; registry: ModelRegistry },
) {
  const { db, ochat, writes, registry } = opts
  const routes = app.withTypeProvider<ZodTypeProvider>()
  const read = { access: 'user', scope: 'ochat:read' } as const
  const write = { access: 'user', scope: 'ochat:write' } as const
  const now = () => opts.clock.now()

  /** Messages as `principal` sees them: with their files, and the names of the records they may read. */
  function messageViews(principal: Principal, rows: MessageRow[]): OchatMessageView[] {
    const files = filesOf(
      db,
      rows.map((row) => row.id),
    )
    const readable = new Map<number, string>()
    for (const recordId of new Set(rows.flatMap((row) => (row.recordId === null ? [] : [row.recordId])))) {
      const record = findRecord(db, recordId)
      const model = record ? registry.byId(record.modelId) : undefined
      if (record && model && canRead(db, principal, model, record)) readable.set(recordId, record.name)
    }
    return presentMessages(
      rows,
      files,
      readable,
      emailChannelIds(
        db,
        rows.map((row) => row.channelId),
      ),
    )
  }

  function presentOne(principal: Principal, row: MessageRow): OchatMessageView {
    const [view] = messageViews(principal, [row])
    if (!view) throw new NodeError('E_INTERNAL')
    return view
  }

  routes.get(
    '/api/v1/ochat/channels',
    {
      config: read,
      schema: {
        summary: 'Your channels, most recent activity first, with unread counts',
        response: { 200: itemsOf(ChannelViewSchema) },
      },
    },
    async (request) => {
      ochat.instance()
      return { items: channelRows(db, principalOf(request)).map(presentChannel) }
    },
  )

  routes.get(
    '/api/v1/ochat/channels/:id',
    {
      config: read,
      schema: { summary: 'One channel', params: IdParams, response: { 200: ChannelViewSchema } },
    },
    async (request) => {
      const principal = principalOf(request)
      const { id } = request.params
      readableChannel(db, principal, id)
      const facts = channelRows(db, principal).find((row) => row.channel.id === id)
      if (!facts) throw new NodeError('E_NOT_FOUND')
      return presentChannel(facts)
    },
  )

  routes.get(
    '/api/v1/ochat/channels/:id/messages',
    {
      config: read,
      schema: {
        summary: "A channel's messages, newest first, with their delivery status",
        params: IdParams,
        querystring: PageQuerySchema,
        response: { 200: pageOf(OchatMessageViewSchema) },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const { id } = request.params
      const query = request.query
      readableChannel(db, principal, id)
      const rows = channelMessages(db, {
        channelId: id,
        before: decodeCursor(query.cursor),
        limit: query.limit,
      })
      const { items, nextCursor } = page(rows, query.limit)
      return { items: messageViews(principal, items), nextCursor }
    },
  )

  routes.post(
    '/api/v1/ochat/channels/:id/messages',
    {
      config: write,
      schema: {
        summary:
          'Send a message (Markdown shortcuts or HTML, up to 5 files): encrypted, or by plain email in an email channel; it starts Pending',
        params: IdParams,
        body: SendBody,
        response: { 201: OchatMessageViewSchema },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request)
      const row = await sendMessage({
        ochat,
        writes,
        principal,
        registry,
        channelId: request.params.id,
        recordId: null,
        message: request.body,
        now,
      })
      return reply.status(201).send(presentOne(principal, row))
    },
  )

  routes.post(
    '/api/v1/ochat/channels/:id/read',
    {
      config: read,
      schema: {
        summary: 'Open the thread: its messages are read here, and Read receipts leave (batched)',
        params: IdParams,
        response: { 200: ThreadOpenedViewSchema },
      },
    },
    async (request) =>
      openThread({
        ochat,
        writes,
        principal: principalOf(request),
        channelId: request.params.id,
        nowMs: now(),
      }),
  )

  routes.post(
    '/api/v1/ochat/messages/:id/retry',
    {
      config: write,
      schema: {
        summary: 'Send a Failed (or, in an email channel, Bounced) message again',
        params: IdParams,
        response: { 200: OchatMessageViewSchema },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const row = await retryMessage({ ochat, writes, principal, messageId: request.params.id, nowMs: now() })
      return presentOne(principal, row)
    },
  )

  /** A record's O'Chat thread: the messages about it, both ways, newest first. */
  routes.get(
    '/api/v1/records/:id/ochat',
    {
      config: read,
      schema: {
        summary: "A record's O'Chat thread, both ways",
        params: IdParams,
        response: { 200: itemsOf(OchatMessageViewSchema) },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const { id } = request.params
      loadRecord(db, { principal, registry, recordId: id })
      const rows = recordThread(db, { recordId: id, principal })
      return { items: messageViews(principal, rows) }
    },
  )

  routes.post(
    '/api/v1/records/:id/ochat',
    {
      config: write,
      schema: {
        summary: "Send an O'Chat message about this record to a channel; replies come back to the record",
        params: IdParams,
        body: RecordSendBody,
        response: { 201: OchatMessageViewSchema },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request)
      const { channelId, ...message } = request.body
      const row = await sendMessage({
        ochat,
        writes,
        principal,
        registry,
        channelId,
        recordId: request.params.id,
        message,
        now,
      })
      return reply.status(201).send(presentOne(principal, row))
    },
  )

  routes.post(
    '/api/v1/ochat/messages/:id/link',
    {
      config: write,
      schema: {
        summary: "File an incoming thread about one of the other company's records on one of ours",
        params: IdParams,
        body: LinkBody,
        response: { 200: itemsOf(OchatMessageViewSchema) },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const rows = await fileThreadOnRecord({
        writes,
        principal,
        registry,
        messageId: request.params.id,
        recordId: request.body.recordId,
      })
      return { items: messageViews(principal, rows) }
    },
  )
}
