import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { relative, resolve, sep } from 'node:path'
import { type Clock, rawBody, refusal, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import { and, desc, eq, lt, type SQL } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import { decodeCursor, page, pageOf } from '../api/pagination.ts'
import { IdParams } from '../api/params.ts'
import { principalOf } from '../auth/plugin.ts'
import type { Db } from '../db/client.ts'
import { incomingMails } from '../db/schema.ts'
import { NodeError } from '../errors.ts'
import type { Intake } from './inbound/smtp-listener.ts'
import { InboundError } from './inbound-errors.ts'
import { InboundAnswerSchema, IncomingMailSchema, presentIncomingMail, rawKept } from './inbound-presenter.ts'
import { IncomingQuerySchema, RAW_MAIL_TYPES } from './inbound-schema.ts'

const admin = { access: 'user', scope: 'admin', admin: true } as const

/**
 * Incoming mail by HTTP (a provider's webhook, a script) and the administrator's list of what came in,
 * with the raw message of mail that could not be taken in.
 */
export async function mailInboundRoutes(
  app: FastifyInstance,
  opts: { db: Db; clock: Clock; intake: Intake; maxBytes: number; dataDir: string },
) {
  const { db, clock, intake } = opts
  const routes = app.withTypeProvider<ZodTypeProvider>()

  // Its own scope: the body is a whole email, not JSON, and may be larger than the JSON limit.
  await routes.register(async (scope) => {
    const raw = scope.withTypeProvider<ZodTypeProvider>()
    raw.removeAllContentTypeParsers()
    raw.addContentTypeParser(
      [...RAW_MAIL_TYPES],
      { parseAs: 'buffer', bodyLimit: opts.maxBytes },
      (request, body, done) => {
        // An Idempotency-Key is checked against these bytes, as for a JSON body.
        request.rawBody = body as Buffer
        done(null, body)
      },
    )
    raw.addContentTypeParser('*', (request, _payload, done) =>
      done(
        new NodeError(
          'E_UNSUPPORTED_MEDIA_TYPE',
          `send the message as ${RAW_MAIL_TYPES.join(' or ')}, not ${request.headers['content-type'] ?? 'no type'}`,
        ),
      ),
    )

    raw.post(
      '/api/v1/mail/inbound',
      {
        bodyLimit: opts.maxBytes,
        config: { access: 'user', scope: 'mail:inbound' },
        schema: {
          summary:
            'Hand over one received email, as it is (administrators, or a key with mail:inbound): it is filed like mail arriving over SMTP',
          body: rawBody(
            'message/rfc822',
            'The whole message (RFC 5322); application/octet-stream also taken',
          ),
          response: {
            200: InboundAnswerSchema,
            403: refusal('Not an administrator (E_FORBIDDEN)'),
            413: refusal(`Larger than NODE_SMTP_MAX_BYTES (E_BODY_TOO_LARGE); nothing is kept`),
            415: refusal('Neither message/rfc822 nor application/octet-stream (E_UNSUPPORTED_MEDIA_TYPE)'),
            422: refusal('An empty body (E_MAIL_UNREADABLE): there is no mail to file'),
            503: refusal('The node cannot store it now (E_MAIL_TRY_LATER); send it again'),
          },
        },
      },
      async (request) => {
        // Mail handed over here is believed as it says (its sender, its headers): an administrator's.
        if (principalOf(request).role !== 'admin')
          throw new NodeError(
            'E_FORBIDDEN',
            "only an administrator, or an administrator's key, hands over mail",
          )
        const body = request.body as Buffer | null
        if (!body || body.length === 0) throw new InboundError('E_MAIL_UNREADABLE', 'the body is empty')
        const result = await intake.receive({ raw: body, via: 'http' })
        const detail = `${result.reason ?? result.outcome} (incoming mail ${result.incomingId})`
        if (result.smtp.code >= 400 && result.smtp.code < 500)
          throw new InboundError('E_MAIL_TRY_LATER', detail, { headers: { 'retry-after': '60' } })
        // Refused and unreadable mail is filed, as over SMTP: the hand-over itself succeeded, and the
        // outcome and reason say what became of the mail (sending it again changes nothing).
        return {
          outcome: result.outcome,
          reason: result.reason,
          recordId: result.recordId,
          messageId: result.messageId,
        }
      },
    )
  })

  routes.get(
    '/api/v1/mail/incoming',
    {
      config: admin,
      schema: {
        summary: 'Mail received, newest first, whatever became of it (administrators)',
        querystring: IncomingQuerySchema,
        response: { 200: pageOf(IncomingMailSchema) },
      },
    },
    async (request) => {
      const { limit, cursor, outcome } = request.query
      const before = decodeCursor(cursor)
      const conditions: SQL[] = []
      if (outcome) conditions.push(eq(incomingMails.outcome, outcome))
      if (before !== undefined) conditions.push(lt(incomingMails.id, before))
      const rows = db
        .select()
        .from(incomingMails)
        .where(and(...conditions))
        .orderBy(desc(incomingMails.id))
        .limit(limit + 1)
        .all()
      const now = clock.now()
      const result = page(rows, limit)
      return {
        items: result.items.map((row) => presentIncomingMail(row, now)),
        nextCursor: result.nextCursor,
      }
    },
  )

  routes.get(
    '/api/v1/mail/incoming/:id/raw',
    {
      config: admin,
      schema: {
        summary: 'Download a received message as it came (administrators), while it is kept',
        params: IdParams,
        response: {
          200: rawBody('message/rfc822', 'The message, byte for byte'),
          404: refusal('No such mail, or its raw message was not kept or has expired (E_NOT_FOUND)'),
        },
      },
    },
    async (request, reply) => {
      const row = db.select().from(incomingMails).where(eq(incomingMails.id, request.params.id)).get()
      if (!row) throw new NodeError('E_NOT_FOUND', `no incoming mail ${request.params.id}`)
      const path = row.rawFile === null ? null : resolve(opts.dataDir, row.rawFile)
      const inside = path !== null && !relative(opts.dataDir, path).startsWith(`..${sep}`)
      const size = rawKept(row, clock.now()) && inside && path ? await sizeOf(path) : null
      if (path === null || size === null)
        throw new NodeError('E_NOT_FOUND', `the raw message of incoming mail ${row.id} is no longer kept`)
      return reply
        .header('content-type', 'message/rfc822')
        .header('content-disposition', `attachment; filename="incoming-${row.id}.eml"`)
        .header('content-length', size)
        .header('cache-control', 'private, no-store')
        .send(createReadStream(path))
    },
  )
}

/** The file's size; null when it is gone (removed on expiry before its row was updated). */
async function sizeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size
  } catch {
    return null
  }
}
