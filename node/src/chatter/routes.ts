import { LIMITS } from '@ochat/shared-protocol'
import { asc, eq } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { decodeCursor, PageQuerySchema, page } from '../api/pagination.ts'
import { IdParams as RecordParams } from '../api/params.ts'
import { principalOf } from '../auth/plugin.ts'
import type { Principal } from '../auth/principal.ts'
import type { Clock } from '../clock.ts'
import type { Config } from '../config.ts'
import type { Db, Tx } from '../db/client.ts'
import { messageVersions } from '../db/schema.ts'
import type { WriteQueue } from '../db/write-queue.ts'
import { NodeError, parseWith } from '../errors.ts'
import { newEffects } from '../live/events.ts'
import type { LiveHub } from '../live/hub.ts'
import type { ModelRegistry } from '../models/registry.ts'
import { loadRecord } from '../records/access.ts'
import { deleteMessage, editMessage } from './edit-message.ts'
import { postMessage } from './post-message.ts'
import { MessageKindSchema, presentMessage } from './presenter.ts'
import { allSubtypes, findMessage, listMessages, messageDetails } from './repository.ts'

const KINDS = MessageKindSchema.options
export const ChatterQuery = PageQuerySchema.extend({
  /** Comma-separated: message, note, tracking, activity. All kinds when absent. */
  kind: z
    .string()
    .optional()
    .transform((value, context) => {
      if (value === undefined) return undefined
      const kinds = value.split(',').map((kind) => kind.trim())
      for (const kind of kinds)
        if (!(KINDS as readonly string[]).includes(kind)) {
          context.addIssue({ code: 'custom', message: `kind: one or more of ${KINDS.join(', ')}` })
          return z.NEVER
        }
      return kinds as z.infer<typeof MessageKindSchema>[]
    }),
})
export const PostBody = z.strictObject({
  /** message: "Send message" to followers; note: "Log note", internal users only. */
  kind: z.enum(['message', 'note']),
  body: z.string().max(200_000),
  /** markdown (default): shortcuts like **bold** are rendered; html: sanitized as is. */
  format: z.enum(['markdown', 'html']).default('markdown'),
  mentionPartnerIds: z.array(z.int().positive()).max(100).default([]),
  /** At most 5 files per message (DESIGN.md limits; with 100 MB per file, 500 MB per message). */
  attachmentIds: z.array(z.int().positive()).max(LIMITS.attachmentsPerMessage).default([]),
})
export const EditBody = z.strictObject({
  body: z.string().max(200_000),
  format: z.enum(['markdown', 'html']).default('markdown'),
})

/** A record's chatter: read it, post on it, edit and delete comments. */
export async function chatterRoutes(
  app: FastifyInstance,
  opts: { db: Db; clock: Clock; config: Config; registry: ModelRegistry; live: LiveHub; writes: WriteQueue },
) {
  const { db, registry } = opts
  const site = { company: opts.config.company, publicUrl: opts.config.publicUrl }

  /** A message the caller may see: its record must be readable. */
  function loadMessage(tx: Tx, principal: Principal, id: number) {
    const message = findMessage(tx, id)
    if (!message) throw new NodeError('E_NOT_FOUND')
    loadRecord(tx, { principal, registry, recordId: message.recordId })
    return message
  }

  function present(tx: Tx, rows: ReturnType<typeof listMessages>) {
    const details = messageDetails(tx, rows)
    return rows.map((row) => presentMessage(row, details))
  }

  app.get(
    '/api/v1/records/:id/messages',
    { config: { access: 'user', scope: 'chatter:read' } },
    async (request) => {
      const principal = principalOf(request)
      const { id } = parseWith(RecordParams, request.params, 'E_INVALID_PARAMS')
      const query = parseWith(ChatterQuery, request.query, 'E_INVALID_PARAMS')
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

  app.post(
    '/api/v1/records/:id/messages',
    { config: { access: 'user', scope: 'chatter:write' } },
    async (request, reply) => {
      const principal = principalOf(request)
      const { id } = parseWith(RecordParams, request.params, 'E_INVALID_PARAMS')
      const body = parseWith(PostBody, request.body)
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
        })
      })
      opts.live.publish(effects)
      return reply.status(201).send(view)
    },
  )

  app.get('/api/v1/messages/:id', { config: { access: 'user', scope: 'chatter:read' } }, async (request) => {
    const principal = principalOf(request)
    const { id } = parseWith(RecordParams, request.params, 'E_INVALID_PARAMS')
    return db.transaction((tx) => present(tx, [loadMessage(tx, principal, id)])[0])
  })

  app.patch(
    '/api/v1/messages/:id',
    { config: { access: 'user', scope: 'chatter:write' } },
    async (request) => {
      const principal = principalOf(request)
      const { id } = parseWith(RecordParams, request.params, 'E_INVALID_PARAMS')
      const body = parseWith(EditBody, request.body)
      const effects = newEffects()
      const view = await opts.writes.run((tx) => {
        const message = loadMessage(tx, principal, id)
        editMessage(tx, { principal, message, ...body, now: opts.clock.now(), effects })
        return present(tx, [loadMessage(tx, principal, id)])[0]
      })
      opts.live.publish(effects)
      return view
    },
  )

  app.delete(
    '/api/v1/messages/:id',
    { config: { access: 'user', scope: 'chatter:write' } },
    async (request, reply) => {
      const principal = principalOf(request)
      const { id } = parseWith(RecordParams, request.params, 'E_INVALID_PARAMS')
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

  app.get(
    '/api/v1/messages/:id/versions',
    { config: { access: 'user', scope: 'chatter:read' } },
    async (request) => {
      const principal = principalOf(request)
      const { id } = parseWith(RecordParams, request.params, 'E_INVALID_PARAMS')
      return db.transaction((tx) => {
        const message = loadMessage(tx, principal, id)
        // A deleted message keeps its last body as a version: only admins read it (as for its files);
        // for everyone else the tombstone has no history.
        if (message.deletedAt !== null && principal.role !== 'admin') return { items: [] }
        const versions = tx
          .select()
          .from(messageVersions)
          .where(eq(messageVersions.messageId, message.id))
          .orderBy(asc(messageVersions.id))
          .all()
        return {
          items: versions.map((version) => ({
            body: version.body,
            replacedBy: version.replacedBy,
            replacedAt: version.replacedAt,
          })),
        }
      })
    },
  )
}
