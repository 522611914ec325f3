import type { FastifyInstance } from 'fastify'
import { principalOf } from '../../auth/plugin.ts'
import { renderBody } from '../../chatter/body.ts'
import type { Clock } from '../../clock.ts'
import type { Db } from '../../db/client.ts'
import type { WriteQueue } from '../../db/write-queue.ts'
import { NodeError, parseWith } from '../../errors.ts'
import type { ModelRegistry } from '../../models/registry.ts'
import type { Ochat } from '../runtime.ts'
import { BulkBody, BulkListQuery, BulkParams } from './schema.ts'
import { sendBulk } from './send-bulk.ts'
import { listBulks, presentBulks, visibleBulk } from './summary.ts'

/**
 * Bulk sends (issue 5, capability 7): one message to several connections, each recipient with its own
 * message and status (pushed live as `ochat.message`, like any other), and a summary with the counts.
 */
export async function bulkRoutes(
  app: FastifyInstance,
  opts: { db: Db; ochat: Ochat; writes: WriteQueue; clock: Clock; registry: ModelRegistry },
) {
  const { db, ochat, writes, registry } = opts
  const read = { config: { access: 'user', scope: 'ochat:read' } } as const
  const write = { config: { access: 'user', scope: 'ochat:write' } } as const

  app.post('/api/v1/ochat/bulk', write, async (request, reply) => {
    const principal = principalOf(request)
    const body = parseWith(BulkBody, request.body)
    const instance = ochat.instance()
    const html = renderBody(body.body, body.format)
    if (!html && body.attachmentIds.length === 0)
      throw new NodeError('E_INVALID_BODY', 'body: nothing left to send after sanitizing')
    const { bulkId, rows } = await writes.run((tx) =>
      sendBulk(tx, {
        principal,
        registry,
        channelIds: body.channelIds,
        html,
        attachmentIds: body.attachmentIds,
        company: instance.name,
        now: opts.clock.now(),
      }),
    )
    const ids = rows.map((row) => row.id)
    ochat.sent(ids, body.attachmentIds.length > 0 ? ids : [])
    ochat.publishStatus(rows.map((row) => ({ row, channelId: row.channelId })))
    return reply.status(201).send(presentBulks(db, [visibleBulk(db, principal, bulkId)])[0])
  })

  app.get('/api/v1/ochat/bulk', read, async (request) => {
    const principal = principalOf(request)
    const query = parseWith(BulkListQuery, request.query, 'E_INVALID_PARAMS')
    const { rows, nextCursor } = listBulks(db, principal, query)
    return { items: presentBulks(db, rows), nextCursor }
  })

  app.get('/api/v1/ochat/bulk/:id', read, async (request) => {
    const principal = principalOf(request)
    const { id } = parseWith(BulkParams, request.params, 'E_INVALID_PARAMS')
    return presentBulks(db, [visibleBulk(db, principal, id)])[0]
  })
}
