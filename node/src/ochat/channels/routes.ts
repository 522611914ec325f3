import { newId } from '@ochat/shared-protocol'
import { and, desc, eq, inArray, isNull, or, sql } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { decodeCursor, PageQuerySchema, page } from '../../api/pagination.ts'
import { IdParams } from '../../api/params.ts'
import { principalOf } from '../../auth/plugin.ts'
import { renderBody } from '../../chatter/body.ts'
import type { Clock } from '../../clock.ts'
import type { Db } from '../../db/client.ts'
import { ochatChannelMembers, ochatMessages } from '../../db/schema.ts'
import type { WriteQueue } from '../../db/write-queue.ts'
import { NodeError, parseWith } from '../../errors.ts'
import type { ModelRegistry } from '../../models/registry.ts'
import { loadRecord } from '../../records/access.ts'
import { markChannelNotificationsRead } from '../delivery/notify-members.ts'
import type { Ochat } from '../runtime.ts'
import { channelMessages, listChannels, presentMessages, readableChannel } from './queries.ts'
import { checkFiles, writeMessages } from './write-messages.ts'

export const SendBody = z.strictObject({
  /** Markdown shortcuts by default (**bold**, _italic_, lists, `code`, links), or HTML. */
  body: z.string().min(1).max(100_000),
  format: z.enum(['markdown', 'html']).default('markdown'),
  /** Files uploaded first with POST /api/v1/attachments: at most 5, 100 MB each, 500 MB in all. */
  attachmentIds: z.array(z.int().positive()).max(20).default([]),
})
export const RecordSendBody = SendBody.extend({ channelId: z.int().positive() })
export const LinkBody = z.strictObject({ recordId: z.int().positive() })

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
  const read = { config: { access: 'user', scope: 'ochat:read' } } as const
  const write = { config: { access: 'user', scope: 'ochat:write' } } as const

  app.get('/api/v1/ochat/channels', read, async (request) => {
    ochat.instance()
    return { items: listChannels(db, principalOf(request)) }
  })

  app.get('/api/v1/ochat/channels/:id', read, async (request) => {
    const principal = principalOf(request)
    const { id } = parseWith(IdParams, request.params, 'E_INVALID_PARAMS')
    readableChannel(db, principal, id)
    const view = listChannels(db, principal).find((channel) => channel.id === id)
    if (!view) throw new NodeError('E_NOT_FOUND')
    return view
  })

  app.get('/api/v1/ochat/channels/:id/messages', read, async (request) => {
    const principal = principalOf(request)
    const { id } = parseWith(IdParams, request.params, 'E_INVALID_PARAMS')
    const query = parseWith(PageQuerySchema, request.query, 'E_INVALID_PARAMS')
    readableChannel(db, principal, id)
    const rows = channelMessages(db, {
      channelId: id,
      before: decodeCursor(query.cursor),
      limit: query.limit,
    })
    const { items, nextCursor } = page(rows, query.limit)
    return { items: presentMessages(db, items, { principal, registry }), nextCursor }
  })

  app.post('/api/v1/ochat/channels/:id/messages', write, async (request, reply) => {
    const principal = principalOf(request)
    const { id } = parseWith(IdParams, request.params, 'E_INVALID_PARAMS')
    const body = parseWith(SendBody, request.body)
    const instance = ochat.instance()
    const html = renderBody(body.body, body.format)
    if (!html && body.attachmentIds.length === 0)
      throw new NodeError('E_INVALID_BODY', 'body: nothing left to send after sanitizing')
    const [row] = await writes.run((tx) => {
      const files = checkFiles(tx, { principal, registry, attachmentIds: body.attachmentIds })
      return writeMessages(tx, {
        principal,
        channelIds: [id],
        html,
        files,
        recordId: null,
        bulkId: null,
        company: instance.name,
        now: opts.clock.now(),
      })
    })
    if (!row) throw new NodeError('E_INTERNAL')
    ochat.sent([row.id], body.attachmentIds.length > 0 ? [row.id] : [])
    ochat.publishStatus([{ row, channelId: id }])
    return reply.status(201).send(presentMessages(db, [row], { principal, registry })[0])
  })

  /** Opening a thread: its notifications are read, and Read receipts leave for what arrived (batched). */
  app.post('/api/v1/ochat/channels/:id/read', read, async (request) => {
    const principal = principalOf(request)
    const { id } = parseWith(IdParams, request.params, 'E_INVALID_PARAMS')
    const now = opts.clock.now()
    const { marked, opened } = await writes.run((tx) => {
      readableChannel(tx, principal, id)
      const marked = markChannelNotificationsRead(tx, { channelId: id, userId: principal.userId, now })
      const opened = tx
        .update(ochatMessages)
        .set({ openedAt: now, readReceipt: 'due' })
        .where(
          and(
            eq(ochatMessages.channelId, id),
            eq(ochatMessages.direction, 'in'),
            isNull(ochatMessages.readReceipt),
          ),
        )
        .run().changes
      return { marked, opened }
    })
    if (opened > 0) ochat.kickReadReceipts()
    if (marked > 0) opts.ochat.publishChannels([principal.userId])
    return { read: marked, opened }
  })

  /** A Failed message is sent again, under a new envelope id (the relay already ended the old one). */
  app.post('/api/v1/ochat/messages/:id/retry', write, async (request) => {
    const principal = principalOf(request)
    const { id } = parseWith(IdParams, request.params, 'E_INVALID_PARAMS')
    const now = opts.clock.now()
    const row = await writes.run((tx) => {
      const row = tx.select().from(ochatMessages).where(eq(ochatMessages.id, id)).get()
      if (!row) throw new NodeError('E_NOT_FOUND')
      readableChannel(tx, principal, row.channelId)
      if (row.direction !== 'out' || row.status !== 'failed')
        throw new NodeError('E_OCHAT_NOT_RETRYABLE', `the message is ${row.status}`)
      return tx
        .update(ochatMessages)
        .set({
          envelopeId: newId(now),
          status: 'pending',
          statusReason: null,
          nextAttemptAt: null,
          outboxAttempts: 0,
          outboxDueAt: now,
          createdAt: now,
          sentAt: null,
          retryingAt: null,
          failedAt: null,
          seq: null,
        })
        .where(eq(ochatMessages.id, id))
        .returning()
        .get()
    })
    ochat.kickOutbox()
    // Files that failed to upload are tried again; the outbox waits for them.
    ochat.transfers?.upload([row.id])
    ochat.publishStatus([{ row, channelId: row.channelId }])
    return presentMessages(db, [row], { principal, registry })[0]
  })

  /** A record's O'Chat thread: the messages about it, both ways, newest first. */
  app.get('/api/v1/records/:id/ochat', read, async (request) => {
    const principal = principalOf(request)
    const { id } = parseWith(IdParams, request.params, 'E_INVALID_PARAMS')
    loadRecord(db, { principal, registry, recordId: id })
    const channels =
      principal.role === 'admin'
        ? undefined
        : db
            .select({ id: ochatChannelMembers.channelId })
            .from(ochatChannelMembers)
            .where(eq(ochatChannelMembers.userId, principal.userId))
    const rows = db
      .select()
      .from(ochatMessages)
      .where(
        and(
          eq(ochatMessages.recordId, id),
          channels ? inArray(ochatMessages.channelId, channels) : undefined,
        ),
      )
      .orderBy(desc(ochatMessages.id))
      .limit(200)
      .all()
    return { items: presentMessages(db, rows, { principal, registry }) }
  })

  /** Sends an O'Chat message about a record; replies come back to this record. */
  app.post('/api/v1/records/:id/ochat', write, async (request, reply) => {
    const principal = principalOf(request)
    const { id } = parseWith(IdParams, request.params, 'E_INVALID_PARAMS')
    const body = parseWith(RecordSendBody, request.body)
    const instance = ochat.instance()
    const html = renderBody(body.body, body.format)
    if (!html && body.attachmentIds.length === 0)
      throw new NodeError('E_INVALID_BODY', 'body: nothing left to send after sanitizing')
    const [row] = await writes.run((tx) => {
      loadRecord(tx, { principal, registry, recordId: id })
      const files = checkFiles(tx, { principal, registry, attachmentIds: body.attachmentIds })
      return writeMessages(tx, {
        principal,
        channelIds: [body.channelId],
        html,
        files,
        recordId: id,
        bulkId: null,
        company: instance.name,
        now: opts.clock.now(),
      })
    })
    if (!row) throw new NodeError('E_INTERNAL')
    ochat.sent([row.id], body.attachmentIds.length > 0 ? [row.id] : [])
    ochat.publishStatus([{ row, channelId: row.channelId }])
    return reply.status(201).send(presentMessages(db, [row], { principal, registry })[0])
  })

  /**
   * Files an incoming thread about one of the other company's records on one of ours: this message
   * and every other of the channel about the same record of theirs. Later ones follow it there.
   */
  app.post('/api/v1/ochat/messages/:id/link', write, async (request) => {
    const principal = principalOf(request)
    const { id } = parseWith(IdParams, request.params, 'E_INVALID_PARAMS')
    const body = parseWith(LinkBody, request.body)
    const rows = await writes.run((tx) => {
      const row = tx.select().from(ochatMessages).where(eq(ochatMessages.id, id)).get()
      if (!row) throw new NodeError('E_NOT_FOUND')
      readableChannel(tx, principal, row.channelId)
      loadRecord(tx, { principal, registry, recordId: body.recordId })
      const peer = row.peerRecord
      // In SQL: a long channel is not read into memory to find the few messages about one record.
      const same = tx
        .select()
        .from(ochatMessages)
        .where(
          and(
            eq(ochatMessages.channelId, row.channelId),
            peer === null
              ? eq(ochatMessages.id, row.id)
              : or(
                  eq(ochatMessages.id, row.id),
                  and(
                    sql`json_extract(${ochatMessages.peerRecord}, '$.model') = ${peer.model}`,
                    sql`json_extract(${ochatMessages.peerRecord}, '$.id') = ${peer.id}`,
                  ),
                ),
          ),
        )
        .all()
      tx.update(ochatMessages)
        .set({ recordId: body.recordId })
        .where(
          inArray(
            ochatMessages.id,
            same.map((other) => other.id),
          ),
        )
        .run()
      return same.map((other) => ({ ...other, recordId: body.recordId }))
    })
    return { items: presentMessages(db, rows, { principal, registry }) }
  })
}
