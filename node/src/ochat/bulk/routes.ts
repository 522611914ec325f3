import type { Clock, ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance } from 'fastify'
import { pageOf } from '../../api/pagination.ts'
import { principalOf } from '../../auth/plugin.ts'
import type { Db } from '../../db/client.ts'
import type { WriteQueue } from '../../db/write-queue.ts'
import { NodeError } from '../../errors.ts'
import type { ModelRegistry } from '../../models/registry.ts'
import { visibleBulk } from '../../policies/index.ts'
import type { Ochat } from '../runtime.ts'
import { BulkSummarySchema, presentBulk } from './presenter.ts'
import { type BulkRow, bulkRecipients, findBulk, listBulks } from './repository.ts'
import { BulkBody, BulkListQuery, BulkParams } from './schema.ts'
import { sendBulkMessage } from './send-bulk.ts'

/**
 * Bulk sends: one message to several connections, each recipient with its own message and status
 * (pushed live as `ochat.message`, like any other), and a summary with the counts.
 */
export async function bulkRoutes(
  app: FastifyInstance,
  opts: { db: Db; ochat: Ochat; writes: WriteQueue; clock: Clock; registry: ModelRegistry },
) {
  const { db, ochat, writes, registry } = opts
  const routes = app.withTypeProvider<ZodTypeProvider>()
  const read = { access: 'user', scope: 'ochat:read' } as const
  const write = { access: 'user', scope: 'ochat:write' } as const

  function present(bulks: BulkRow[]) {
    const recipients = bulkRecipients(
      db,
      bulks.map((bulk) => bulk.id),
    )
    return bulks.map((bulk) => presentBulk(bulk, recipients.get(bulk.id) ?? []))
  }

  routes.post(
    '/api/v1/ochat/bulk',
    {
      config: write,
      schema: {
        summary:
          'Send one message (and its files, uploaded once) to up to 1,000 channels; each recipient gets its own status. A channel you cannot write to fails the whole request (422, named)',
        body: BulkBody,
        response: { 201: BulkSummarySchema },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request)
      const bulkId = await sendBulkMessage({
        ochat,
        writes,
        principal,
        registry,
        message: request.body,
        now: () => opts.clock.now(),
      })
      const [summary] = present([visibleBulk(principal, findBulk(db, bulkId))])
      if (!summary) throw new NodeError('E_INTERNAL')
      return reply.status(201).send(summary)
    },
  )

  routes.get(
    '/api/v1/ochat/bulk',
    {
      config: read,
      schema: {
        summary: 'Your bulk sends (administrators: every one), newest first, with counts by status',
        querystring: BulkListQuery,
        response: { 200: pageOf(BulkSummarySchema) },
      },
    },
    async (request) => {
      const { rows, nextCursor } = listBulks(db, principalOf(request), request.query)
      return { items: present(rows), nextCursor }
    },
  )

  routes.get(
    '/api/v1/ochat/bulk/:id',
    {
      config: read,
      schema: {
        summary:
          "One bulk send: every recipient's status, with the reason and next step when it is Retrying or Failed",
        params: BulkParams,
        response: { 200: BulkSummarySchema },
      },
    },
    async (request) => {
      const [summary] = present([visibleBulk(principalOf(request), findBulk(db, request.params.id))])
      if (!summary) throw new NodeError('E_INTERNAL')
      return summary
    },
  )
}
